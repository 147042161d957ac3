"""Viseme events of the audio-only model against the true phones, on a built corpus's held-out items.

    python benchmarks/visemes.py --data /work/corpus [--split test] [--sources kathleen,synthetic] [--limit 200]

The events are what ``animate`` writes to visemes.json (:func:`voca_cn.motion.lipsync.best_phones`
over the mixed phone probabilities). Truth: Kathleen's forced-aligned phones, the TTS engines' own
phone timings. Per source:
- viseme frames: share of speech frames (10 ms) whose event viseme (Azure id) is the true one;
- bilabial recall: share of true p/b/m with an Azure-21 event overlapping it (20 ms either side),
  precision: share of Azure-21 events overlapping a true p/b/m, and the same recall for a p/b/m
  that starts a file (within its first 150 ms);
- events per second, against the true phones per second (flicker shows as too many).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn.audio.features import VISEME_OF_PHONE, n_feature_frames, segment_labels  # noqa: E402
from voca_cn.core.phones import AZURE  # noqa: E402
from voca_cn.core.timing import SR, Segment, merge_silences  # noqa: E402

BILABIAL, SLACK = 21, 0.02


def overlaps(s: Segment, others: list[Segment]) -> bool:
    return any(o.start < s.end + SLACK and o.end > s.start - SLACK for o in others)


def score(pred: list[Segment], true: list[Segment], duration: float) -> dict:
    """One item's figures (lists where they are pooled over items)."""
    n = n_feature_frames(int(round(duration * SR)))
    fp, ft = (VISEME_OF_PHONE[segment_labels(segs, n)] for segs in (pred, true))
    speech = ft != 0
    bt = [s for s in true if AZURE.get(s.label) == BILABIAL]
    bp = [s for s in pred if AZURE.get(s.label) == BILABIAL]
    return {"hits": int((fp[speech] == ft[speech]).sum()), "speech": int(speech.sum()),
            "recall": [overlaps(s, bp) for s in bt], "precision": [overlaps(s, bt) for s in bp],
            "initial": [overlaps(bt[0], bp)] if bt and bt[0].start < 0.15 else [],
            "events": sum(s.label != "sil" for s in pred), "true": sum(s.label != "sil" for s in true),
            "seconds": duration}


def main() -> None:
    from voca_cn.motion.lipsync import AudioAnimator, best_phones
    from voca_cn.training.corpus import load_item, read_manifest

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a built corpus (voca-cn data build)")
    p.add_argument("--split", default="test")
    p.add_argument("--sources", default="kathleen,synthetic")
    p.add_argument("--limit", type=int, default=200, help="items per source (default 200)")
    a = p.parse_args()
    model = AudioAnimator.load()
    for source in a.sources.split(","):
        rows = [r for r in read_manifest(a.data, a.split) if r["source"] == source][:a.limit]
        pooled: dict = {}
        for k, r in enumerate(rows):
            item = load_item(a.data, r["id"])
            duration = len(item["audio"]) / SR
            true = merge_silences([s for s in item["phones"] if s.label != "sil"], duration)
            s = score(best_phones(model.hear(item["audio"]), duration), true, duration)
            for key, v in s.items():
                pooled[key] = pooled.get(key, [] if isinstance(v, list) else 0) + v
            print(f"\rvisemes: {source} {k + 1}/{len(rows)}", end="", file=sys.stderr)
        print(file=sys.stderr)
        mean = lambda x: float(np.mean(x)) if x else float("nan")  # noqa: E731
        print(f"{source} ({len(rows)} {a.split} items): viseme frames {pooled['hits'] / max(pooled['speech'], 1):.3f}, "
              f"bilabial recall {mean(pooled['recall']):.3f}, precision {mean(pooled['precision']):.3f}, "
              f"file-initial p/b/m {sum(pooled['initial'])}/{len(pooled['initial'])}, events/s "
              f"{pooled['events'] / pooled['seconds']:.2f} (true phones/s {pooled['true'] / pooled['seconds']:.2f})")


if __name__ == "__main__":
    main()

"""Benchmark `voca-cn sync` on held-out talking-face clips: known audio shifts recovered, and true
pairings told from mismatched ones.

For every clip of the split (grid-s1's test clips by default, never trained on), the soundtrack is
shifted by each of -400..+400 ms (audio late = positive: silence in front, the end cut) and the
offset is estimated from the shifted audio against the tracked face; a hit is an estimate within
one video frame (40 ms at 25 fps). Then each clip's true pairing (no shift) is compared with a
mismatched one (the next clip's audio, cut or padded to length): the true one should have the
higher confidence.

    python benchmarks/sync.py [--data corpus/ | --video ../shared/corpora/grid-s1] [--limit 100]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from voca_cn.core.timing import SR
from voca_cn.formats import resolve
from voca_cn.motion.lipsync import AudioAnimator
from voca_cn.training.evaluation import video_cases, video_corpus_cases
from voca_cn.video.sync import audio_aperture, offset

SHIFTS_MS = (-400, -300, -200, -100, 0, 100, 200, 300, 400)


def shifted(audio: np.ndarray, ms: float) -> np.ndarray:
    """Audio late by ``ms`` (> 0: silence in front), same length."""
    k = int(round(ms / 1000 * SR))
    if k >= 0:
        return np.concatenate([np.zeros(k, np.float32), audio])[:len(audio)]
    return np.concatenate([audio[-k:], np.zeros(-k, np.float32)])


def fit(audio: np.ndarray, n: int) -> np.ndarray:
    return np.pad(audio, (0, max(0, n - len(audio))))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="corpus with video items (data build --video)")
    ap.add_argument("--video", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora" / "grid-s1"))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--model", help="model folder (default: the shipped one)")
    ap.add_argument("--json", help="write the per-case results here")
    args = ap.parse_args()

    template = resolve("makehuman")
    cases = list(video_corpus_cases(Path(args.data), args.split, args.limit) if args.data
                 else video_cases(Path(args.video), args.split, template, args.limit))
    animator = AudioAnimator.load(args.model)
    rows, hits, errors = [], 0, []
    for i, case in enumerate(cases):
        for ms in SHIFTS_MS:
            pred = audio_aperture(shifted(case.audio, ms), animator, template)
            est = offset(case.real.aperture, 60.0, pred)
            errors.append(est["offset_ms"] - ms)
            hits += abs(est["offset_ms"] - ms) <= 40.0
            rows.append({"clip": case.name, "shift_ms": ms, "offset_ms": est["offset_ms"],
                         "confidence": est["confidence"]})
    wins = 0
    for i, case in enumerate(cases):
        other = cases[(i + 1) % len(cases)]
        true = next(r["confidence"] for r in rows if r["clip"] == case.name and r["shift_ms"] == 0)
        pred = audio_aperture(fit(other.audio, len(case.audio)), animator, template)
        wrong = offset(case.real.aperture, 60.0, pred)["confidence"]
        wins += true > wrong
    errors = np.abs(errors)
    result = {"clips": len(cases), "shifts": len(rows), "within_one_frame": hits / len(rows),
              "median_abs_error_ms": float(np.median(errors)), "p90_abs_error_ms": float(np.percentile(errors, 90)),
              "true_over_mismatched": wins / len(cases)}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": result, "rows": rows}, indent=1))
    print(f"{hits}/{len(rows)} shifts within 40 ms; true pairing more confident in {wins}/{len(cases)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()

"""How often `voca-cn animate` says a take sounds noisy, echoing or band-limited: per condition of the
robustness benchmark, the share of held-out takes whose median stage disagreement is above
:data:`voca_cn.motion.fallback.NOISY` (the line is said then, without a transcript).

    python benchmarks/noisy_notice.py [--clips 30]

Takes: grid-s1's test-split clips (their whole soundtrack, as a user's file; babble: Kathleen's test
utterances) and Kathleen's test utterances (babble: six grid-s1 test clips), through every condition
of ``benchmarks/robustness.py`` and the unseen codecs. Needs ../shared (grid-s1 and Kathleen).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robustness import UNSEEN, Degrader, conditions, spread  # noqa: E402

from voca_cn.audio.load import load, prepare  # noqa: E402
from voca_cn.motion.fallback import NOISY  # noqa: E402
from voca_cn.motion.lipsync import AudioAnimator  # noqa: E402
from voca_cn.training.corpus import DEFAULT_KATHLEEN, kathleen_prompt, split_of_prompt, video_transcripts  # noqa: E402

GRID = Path(__file__).resolve().parents[2] / "shared/corpora/grid-s1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=30, help="takes per speaker")
    args = ap.parse_args()
    animator = AudioAnimator.load()
    grid = [v for v, _ in video_transcripts(GRID) if split_of_prompt(v.stem) == "test"]
    kathleen = [f for f in sorted((DEFAULT_KATHLEEN / "utterances").glob("*.flac"))
                if split_of_prompt(kathleen_prompt(f.stem)) == "test"][24:]  # the first 24 are grid-s1's babble
    if not grid or not kathleen:
        raise SystemExit(f"needs grid-s1 at {GRID} and Kathleen at {DEFAULT_KATHLEEN} (../shared)")
    takes = {"grid-s1": [(v.stem, load(v)) for v in spread(grid, args.clips)],
             "kathleen": [(f.stem, load(f)) for f in spread(kathleen, args.clips)]}
    degraders = {"grid-s1": Degrader(), "kathleen": Degrader([y for _, y in takes["grid-s1"][:6]])}
    print(f"{'condition':<14}" + "".join(f"{s + ': said, median nats':>32}" for s in takes))
    for name in conditions() + list(UNSEEN):
        row = []
        for speaker, clips in takes.items():
            medians = []
            for stem, y in clips:
                z, rate = degraders[speaker](name, y, stem, slice(0, len(y)))
                medians.append(float(np.median(animator.stages(prepare(z, rate, 16000, stem))[2])))
            row.append(f"{100 * np.mean(np.array(medians) > NOISY):>5.0f} %, {np.median(medians):.2f}")
        print(f"{name:<14}" + "".join(f"{r:>32}" for r in row), flush=True)


if __name__ == "__main__":
    main()

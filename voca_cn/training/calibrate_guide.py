"""Choose how far a transcript pulls the phonetic stages (:class:`voca_cn.motion.lipsync.Guide`) on
the validation split, never on the benchmark's clips or conditions.

    python -m voca_cn.training.calibrate_guide --data /work/corpus [--copies 2] [--seed 11] [--clips N]

Per grid-s1 validation clip (its lips tracked in its video), as it is and as ``copies`` random
degraded recordings (training's chain, :mod:`voca_cn.training.augment`, babble from other
validation clips): the transcript aligned as ``--text`` aligns it, then the shipped model's mouth
with each stage's probabilities pulled toward the alignment (:func:`voca_cn.motion.lipsync.toward`)
by every guide of the grid: a share of 0.4-0.7 reached where the two stages disagree by ``high``
nats, none below ``low`` (three ramps), and the same share everywhere (the guide until now: 0.4),
next to the audio alone and the procedural animator on the same alignment. Score: Pearson r of the
makehuman head's inner-lip aperture against the tracked one within the clip's speech. The guide
with the best mean r over all recordings whose clean r is within 1 % of the audio alone is printed
as JSON with every guide's figures, also split into even and odd clips (how much the choice could
move by chance: with ~50 clips a side the ramps' order changed between the halves).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SHARES = (0.4, 0.55, 0.7)
RAMPS = ((0.03, 0.15), (0.05, 0.3), (0.1, 0.5))  # nats: no pull below the first, the whole share above the second


def guides() -> dict:
    """Name -> :class:`voca_cn.motion.lipsync.Guide` of the grid."""
    from voca_cn.motion.lipsync import Guide

    out = {f"{s} everywhere": Guide(share=s, low=-1.0, high=0.0) for s in (0.25, 0.4, 0.55)}
    out.update({f"{s} over {lo}-{hi}": Guide(share=s, low=lo, high=hi) for s in SHARES for lo, hi in RAMPS})
    return out


def rows(corpus: Path, copies: int, seed: int, clips: int | None = None) -> list[dict]:
    """Per clip and copy (0 = as recorded): aperture r for ``audio``, ``procedural`` and each
    guide of :func:`guides`."""
    from tqdm import tqdm

    from voca_cn.audio.loudness import loudness
    from voca_cn.core.signal import pearson
    from voca_cn.core.timing import SR, n_frames
    from voca_cn.formats import resolve
    from voca_cn.motion import lipsync
    from voca_cn.motion.procedural import animate
    from voca_cn.motion.transcript import align
    from voca_cn.training.augment import recordings
    from voca_cn.training.evaluation import video_corpus_cases

    cases = list(video_corpus_cases(corpus, "val", clips))
    animator, head, grid = lipsync.AudioAnimator.load(), resolve("makehuman"), guides()
    out = []
    takes = recordings([c.audio for c in cases], copies, seed, babble_every=5)
    for i, (case, ys) in enumerate(tqdm(zip(cases, takes), total=len(cases), desc="calibrate", unit="clip",
                                        file=sys.stderr)):
        n = min(len(case.real.weights), len(case.real.aperture))
        speech = case.real.speech(n)

        def r(w: np.ndarray) -> float:
            w = np.concatenate([w, np.repeat(w[-1:], max(0, n - len(w)), 0)])[:n]
            return pearson(head.aperture(head.deform(w))[speech], case.real.aperture[speech])

        for copy, y in enumerate(ys):
            level, heard = loudness(y, n_frames(len(y))), animator.stages(y)  # the networks run once a take
            phones = align(y, case.text, "en", animator, probs=animator.hear(y, heard)).phones
            row = {"clip": i, "copy": copy, "audio": r(animator.animate(y, level, heard=heard)[0]),
                   "procedural": r(animate(phones, len(y) / SR))}
            for name, guide in grid.items():
                row[name] = r(animator.animate(y, level, phones, heard, guide)[0])
            out.append(row)
    return out


def figures(rs: list[dict], key: str) -> dict:
    mean = lambda sel: round(float(np.mean([x[key] for x in sel])), 4)  # noqa: E731
    return {"clean": mean([x for x in rs if x["copy"] == 0]), "degraded": mean([x for x in rs if x["copy"] > 0]),
            "all": mean(rs)}


def choose(rs: list[dict]) -> str:
    """The guide with the best mean r whose clean r is within 1 % of the audio alone ("audio" where
    none beats the audio alone)."""
    floor = 0.99 * figures(rs, "audio")["clean"]
    keys = ["audio", *guides()]
    return max((k for k in keys if figures(rs, k)["clean"] >= floor), key=lambda k: figures(rs, k)["all"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a built corpus (its grid-s1 val clips)")
    p.add_argument("--copies", type=int, default=2, help="degraded copies of each clip")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--clips", type=int, help="only the first N clips (a smoke run)")
    p.add_argument("--save", type=Path, help="keep the per-clip rows here (JSON)")
    a = p.parse_args(argv)
    rs = rows(a.data, a.copies, a.seed, a.clips)
    if a.save:
        a.save.write_text(json.dumps(rs))
    best = choose(rs)
    keys = ["audio", "procedural", *guides()]
    halves = {"even clips": [r for r in rs if r["clip"] % 2 == 0], "odd clips": [r for r in rs if r["clip"] % 2 == 1]}
    print(json.dumps({"guide": best, "clips": len({r["clip"] for r in rs}), "rows": len(rs),
                      "all clips": {k: figures(rs, k) for k in keys},
                      **{h: {k: figures(sel, k) for k in keys} for h, sel in halves.items()}}, indent=1))


if __name__ == "__main__":
    main()

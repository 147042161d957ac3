"""Choose how the two shipped models are mixed (:data:`voca_cn.motion.fallback.TAU`, ``LOW`` and
``HIGH``) on the validation split, never on the benchmark's clips or conditions.

    python -m voca_cn.training.calibrate_fallback --data /work/corpus [--copies 2] [--seed 0]

Per validation item (TTS voices, Kathleen, grid-s1's video), as it is and as ``copies`` random
degraded recordings (training's chain, :mod:`voca_cn.training.augment`, babble from other
validation items): both models' mouth curves and the running mean of their disagreement. A mix's
error is the lip vertices' squared error (mm^2, the makehuman head) against the item's target
curves (tracked lips for video items, the procedural animator on the phones for the others);
per frame it is quadratic in the share ``a``, so every ramp is scored without rerunning a network.
(Each model's curves are taken with its own lip closures; the product closes the lips after the
mix, where the mixed probabilities hear a bilabial, which only this quadratic form cannot follow.)

Every ramp (LOW, HIGH on a 0.01 grid, the running mean over TAU 0.5, 1, 2 or 4 s) is scored on the
even items; the best one whose error on clean audio is not more than 1 % above the clean model's
alone for any source (of the TAUs within 0.1 % of the best, the shortest) is printed as JSON, with
its figures on the odd items next to the clean model alone and the robust one alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SOURCES = ("synthetic", "kathleen", "video")
TAUS = (0.5, 1.0, 2.0, 4.0)  # s


def frames(corpus: Path, copies: int, seed: int) -> dict:
    """Per 60 fps frame of every validation item and copy: the error terms of the mix
    err(a) = C + 2aB + a^2 A, and the item, copy (0 = as recorded) and source; per item and copy
    the (F,) divergence of the two phonetic stages at 100/s (``divergence``) and its frame count
    at 60 fps (``n``)."""
    from tqdm import tqdm

    from voca_cn.core.timing import n_frames
    from voca_cn.formats import resolve
    from voca_cn.motion.fallback import divergence
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.training.augment import recordings
    from voca_cn.training.corpus import load_item, read_manifest, target_curves
    from voca_cn.training.evaluation import Scorer

    rows = read_manifest(corpus, "val")
    clean, robust = AudioAnimator.load("clean"), AudioAnimator.load("robust")
    gram = Scorer(resolve("makehuman")).gram
    items = [load_item(corpus, r["id"]) for r in rows]
    takes = recordings([it["audio"] for it in items], copies, seed, babble_every=25)
    out = {k: [] for k in ("A", "B", "C", "item", "copy", "source", "divergence", "n")}
    for i, (row, item, ys) in enumerate(tqdm(zip(rows, items, takes), total=len(items), desc="calibrate",
                                             unit="item", file=sys.stderr)):
        target = target_curves(row, item)
        for copy, y in enumerate(ys):
            n = min(len(target), n_frames(len(y)))
            pc, pr = clean.stage(y), robust.stage(y)
            wc, wr = clean.mouth(pc, n), robust.mouth(pr, n)
            err, step = wc - target[:n], wr - wc
            out["A"].append(np.einsum("ti,ij,tj->t", step, gram, step))
            out["B"].append(np.einsum("ti,ij,tj->t", err, gram, step))
            out["C"].append(np.einsum("ti,ij,tj->t", err, gram, err))
            out["divergence"].append(divergence(pc, pr))
            out["n"].append(n)
            out["item"].append(np.full(n, i))
            out["copy"].append(np.full(n, copy))
            out["source"].append(np.full(n, SOURCES.index(row["source"])))
    return {k: v if k in ("divergence", "n") else np.concatenate(v) for k, v in out.items()}


def disagreement(z: dict, tau: float) -> np.ndarray:
    """Every frame's running mean divergence over ``tau`` s, at 60 fps, one array."""
    from voca_cn.audio.features import FRAME_RATE
    from voca_cn.core.timing import FPS, resample_frames
    from voca_cn.motion.fallback import Disagreement

    return np.concatenate([resample_frames(Disagreement(tau).running(d)[:, None], FRAME_RATE, FPS, n)[:, 0]
                           for d, n in zip(z["divergence"], z["n"])])


def error(z: dict, a: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared lip-vertex error (mm^2) of the mix with shares ``a`` over the masked frames."""
    return float((z["C"][mask] + 2 * a[mask] * z["B"][mask] + a[mask] ** 2 * z["A"][mask]).mean())


def figures(z: dict, a: np.ndarray, mask: np.ndarray) -> dict:
    """Error per source on clean audio and on degraded copies, and overall."""
    out = {"all": error(z, a, mask)}
    for s, name in enumerate(SOURCES):
        for what, copies in (("clean", z["copy"] == 0), ("degraded", z["copy"] > 0)):
            out[f"{name} {what}"] = error(z, a, mask & copies & (z["source"] == s))
    return {k: round(v, 1) for k, v in out.items()}


def choose(z: dict, mask: np.ndarray) -> tuple[float, float, float]:
    """(TAU, LOW, HIGH): the ramp with the least error on the masked frames whose clean error for
    every source is within 1 % of the clean model's alone."""
    from voca_cn.motion.fallback import share

    zero = np.zeros(len(z["C"]))
    clean = [mask & (z["copy"] == 0) & (z["source"] == s) for s in range(len(SOURCES))]
    limit = [1.01 * error(z, zero, m) for m in clean]
    best = {}  # tau: (error, low, high)
    for tau in TAUS:
        d = disagreement(z, tau)
        for low in np.arange(0.0, 0.155, 0.01):
            for high in np.arange(low + 0.02, 0.305, 0.01):
                a = share(d, low, high)
                if any(error(z, a, m) > lim for m, lim in zip(clean, limit)):
                    continue
                e = error(z, a, mask)
                if tau not in best or e < best[tau][0]:
                    best[tau] = (e, round(float(low), 2), round(float(high), 2))
    # validation items last 2-10 s, one condition each: a longer mean cannot lose there, but it is
    # slower to follow a noise that starts or stops, so the shortest within 0.1 % of the best wins
    least = min(e for e, _, _ in best.values())
    tau = min(t for t, (e, _, _) in best.items() if e <= 1.001 * least)
    return tau, best[tau][1], best[tau][2]


def main(argv=None) -> None:
    from voca_cn.motion.fallback import share

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a built corpus (its val split)")
    p.add_argument("--copies", type=int, default=2, help="degraded copies of each item")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    z = frames(a.data, a.copies, a.seed)
    fit, check = z["item"] % 2 == 0, z["item"] % 2 == 1
    tau, low, high = choose(z, fit)
    n = len(z["C"])
    report = {"tau": tau, "low": low, "high": high, "items": int(z["item"].max()) + 1, "check (odd items), mm^2": {
        "mix": figures(z, share(disagreement(z, tau), low, high), check),
        "clean model": figures(z, np.zeros(n), check), "robust model": figures(z, np.ones(n), check)}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

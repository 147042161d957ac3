"""``voca-cn fit-animator``: fit the procedural animator's viseme poses and timing to real lips.

The animator's output is linear in its poses: per frame and channel group, a blend of the
phones' poses with the dominance model's shares (:func:`voca_cn.motion.procedural.dominances`). So given
phone timings (forced alignment of the transcript) and tracked, calibrated curves of a real face
saying them (``data build --video``), the jaw and mouth channels of every phone's pose are a ridge
regression: least squares against the tracked curves, pulled toward the hand-set pose with a
weight worth :data:`PRIOR_FRAMES` frames, so a phone the video rarely shows stays near its
hand-set (viseme) shape. The bilabial poses are not fitted: p/b/m stay hard closures. The timing (a scale
on every dominance's fall-off, and a shift of the face against the audio) is chosen by grid
search on the val split's aperture correlation.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES
from voca_cn.core.files import atomic_write
from voca_cn.core.phones import PHONES
from voca_cn.core.signal import pearson
from voca_cn.core.timing import SR
from voca_cn.formats import resolve
from voca_cn.motion.procedural import BILABIAL, FIT_FILE, GROUPS, HAND_SET, Fitted, animate, dominances
from voca_cn.training.evaluation import video_corpus_cases

PRIOR_FRAMES = 200.0
FITTED_CHANNELS = np.array([i for i, n in enumerate(NAMES) if n.startswith(("jaw", "mouth"))])
DECAYS = (0.75, 1.0, 1.5)
SHIFTS = (-0.02, 0.0, 0.02, 0.04)  # s; > 0: the face moves after the phone's audio


def fit_poses(cases, decay: float, shift: float) -> np.ndarray:
    """(P, 52) poses per inventory phone fitted to ``cases`` (real-lip Cases) under the given
    timing; phones the cases never say keep their hand-set (viseme) pose."""
    xs, ys = [], []
    for c in cases:
        n = len(c.real.weights)
        dom = dominances(c.phones, len(c.audio) / SR, 60, decay, shift)[:n]
        keep = np.ones(n, bool)  # frames the hard closure rewrites teach nothing about poses
        for p in c.phones:
            if p.label in BILABIAL:
                keep[max(0, int((p.start - 0.03) * 60)):int(np.ceil((p.end + 0.03) * 60))] = False
        xs.append(dom[keep])
        ys.append(c.real.weights[:len(dom)][keep])
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.float64)
    poses = HAND_SET.copy()
    seen = x.sum((0, 2)) > 0
    free = np.array([k for k, p in enumerate(PHONES) if seen[k] and p not in BILABIAL])
    fixed_idx = np.array([k for k in range(len(PHONES)) if k not in set(free)])
    for g, idx in enumerate(GROUPS):
        a = x[:, free, g]
        fixed = x[:, fixed_idx, g] @ HAND_SET[np.ix_(fixed_idx, idx)]
        for k, c in enumerate(idx):
            if c not in FITTED_CHANNELS:
                continue
            prior = HAND_SET[free, c]
            lhs = a.T @ a + PRIOR_FRAMES * np.eye(len(free))
            rhs = a.T @ (y[:, c] - fixed[:, k]) + PRIOR_FRAMES * prior
            poses[free, c] = np.clip(np.linalg.solve(lhs, rhs), 0.0, 1.0)
    return poses


def aperture_r(cases, fitted: Fitted, template) -> float:
    """Mean Pearson r of the animator's aperture vs the tracked one, within speech windows."""
    rs = []
    for c in cases:
        n = len(c.real.aperture)
        w = animate(c.phones, len(c.audio) / SR, fitted=fitted)[:n]
        sp = c.real.speech(len(w))
        r = pearson(template.aperture(template.deform(w[sp])), c.real.aperture[sp])
        if r is not None:
            rs.append(r)
    return float(np.mean(rs))


def fit(corpus: str | os.PathLike, out: str | os.PathLike = FIT_FILE) -> dict:
    """Fit on the corpus's train video items, choose the timing on val, write ``out``; returns
    the fit's report (val r per timing, chosen timing, train/val clips)."""

    train = list(video_corpus_cases(Path(corpus), "train"))
    val = list(video_corpus_cases(Path(corpus), "val"))
    if not train or not val:
        raise VocaError(f"the corpus {corpus} needs video items in both train and val to fit the animator "
                        f"(has {len(train)} and {len(val)}); build it with voca-cn data build --video DIR")
    template = resolve("makehuman")
    grid = {}
    for decay, shift in itertools.product(DECAYS, SHIFTS):
        fitted = Fitted(fit_poses(train, decay, shift), decay, shift)
        grid[(decay, shift)] = (aperture_r(val, fitted, template), fitted)
        print(f"fit-animator: decay x{decay}, shift {shift * 1000:+.0f} ms: val aperture r "
              f"{grid[(decay, shift)][0]:.3f}", file=sys.stderr)
    (decay, shift), (best_r, fitted) = max(grid.items(), key=lambda kv: kv[1][0])
    hand = aperture_r(val, Fitted(HAND_SET), template)
    changed = np.flatnonzero(np.abs(fitted.poses - HAND_SET).max(1) > 1e-6)
    poses = {PHONES[k]: {NAMES[c]: round(float(fitted.poses[k, c]), 4) for c in FITTED_CHANNELS}
             for k in changed}
    report = {"decay": decay, "shift": shift, "val_aperture_r": round(best_r, 4),
              "val_aperture_r_hand_set": round(hand, 4), "train_clips": len(train), "val_clips": len(val),
              "source": str(Path(corpus).resolve().name), "prior_frames": PRIOR_FRAMES}
    out = Path(out)
    atomic_write(out, json.dumps({**report, "poses": poses}, indent=1))
    return report

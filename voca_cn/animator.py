"""Procedural co-articulation: phone timings -> ARKit weight curves at 60 fps.

A dominance model (Cohen & Massaro) per channel group: every phone pulls each ARKit channel
toward its viseme pose with a dominance that is flat inside the phone and decays outside it,
faster or slower by class. Lips and jaw have separate dominances so that, for example, a rounded
vowel's pucker starts ~150 ms early (anticipatory rounding) through the consonants before it,
while those consonants keep their own jaw height. Bilabials (p/b/m) are hard constraints: the lips
meet in the middle of every one. A JALI-style style control scales jaw and lip activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from voca_cn.alignment import Segment
from voca_cn.arkit import INDEX, NAMES
from voca_cn.phones import AZURE, VISEME_POSES, split_diphthong

FPS = 60
JAW = np.array([INDEX[n] for n in ("jawOpen", "jawForward", "tongueOut")])
ROUNDING = np.array([INDEX[n] for n in ("mouthPucker", "mouthFunnel")])
LIPS = np.array([i for i, n in enumerate(NAMES) if n.startswith("mouth") and i not in ROUNDING])
BILABIAL = {"p", "b", "m"}
LABIODENTAL = {"f", "v"}
ROUNDED = {7, 8, 3, 5, 13, 16}  # Azure visemes with lip rounding


@dataclass(frozen=True)
class Style:
    """JALI's field: ``jaw`` and ``lip`` scale articulation (1 = normal, 0 = none, 2 = hyper)."""
    jaw: float = 1.0
    lip: float = 1.0


def _dominance(phone: str) -> tuple[float, float, float, float]:
    """(strength, decay before [s], decay after [s], rounding anticipation [s]) by phone class."""
    viseme = AZURE[phone]
    if phone in BILABIAL:
        return 6.0, 0.025, 0.025, 0.03
    if phone in LABIODENTAL:
        return 4.0, 0.03, 0.03, 0.03
    if phone == "sil":
        return 0.8, 0.06, 0.06, 0.06
    if viseme <= 11:  # vowels and glides
        return 1.0, 0.06, 0.06, 0.15 if viseme in ROUNDED else 0.06
    return 0.5, 0.04, 0.04, 0.15 if viseme in ROUNDED else 0.04


def _units(phones: Sequence[Segment]) -> list[Segment]:
    """Split diphthongs into two timed targets."""
    out = []
    for p in phones:
        parts = split_diphthong(p.label)
        step = (p.end - p.start) / len(parts)
        out.extend(Segment(q if q in AZURE else p.label, p.start + k * step, p.start + (k + 1) * step)
                   for k, q in enumerate(parts))
    return out


def animate(phones: Sequence[Segment], duration: float, style: Style = Style(), fps: int = FPS) -> np.ndarray:
    """Phone segments (inventory labels, seconds) -> ARKit weights (T, 52) float32 at ``fps``,
    T = ceil(duration * fps). Memory and time are linear in duration (each phone touches only
    frames within ~0.6 s of it)."""
    n = max(1, int(np.ceil(duration * fps - 1e-9)))
    t = (np.arange(n) + 0.5) / fps  # frame centres
    num = np.zeros((n, 52), np.float64)
    den = np.zeros((n, 3), np.float64)  # jaw, rounding, other lips
    groups = [JAW, ROUNDING, LIPS]
    reach = 0.6
    for seg in _units(phones):
        pose = VISEME_POSES[AZURE[seg.label]]
        strength, before, after, anticip = _dominance(seg.label)
        lo = np.searchsorted(t, seg.start - reach)
        hi = np.searchsorted(t, seg.end + reach)
        if hi <= lo:
            continue
        tt = t[lo:hi]
        core = 0.25 * (seg.end - seg.start)
        mid = 0.5 * (seg.start + seg.end)
        dist = np.abs(tt - mid) - core
        outside = np.maximum(dist, 0.0)
        for g, idx in enumerate(groups):
            decay = np.where(tt < mid, anticip if g == 1 else before, after)
            d = strength * np.exp(-outside / decay)
            den[lo:hi, g] += d
            num[lo:hi, idx] += d[:, None] * pose[idx]
    eps = 1e-9
    w = np.zeros((n, 52))
    for g, idx in enumerate(groups):
        w[:, idx] = num[:, idx] / (den[:, g:g + 1] + eps)
    w[:, JAW] *= style.jaw
    w[:, ROUNDING] *= style.lip
    w[:, LIPS] *= style.lip
    w = close_bilabials(w, phones, fps)
    w = _smooth(w, fps)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def close_bilabials(w: np.ndarray, phones: Sequence[Segment], fps: int = FPS) -> np.ndarray:
    """Lips meet on every p/b/m: blend (T, 52) weights to the closure pose over the phone's
    middle, ramping in and out over 30 ms, whatever the neighbours or the style say."""
    w = np.array(w, np.promote_types(np.asarray(w).dtype, np.float32))  # float32 stays float32: hours of it
    t = (np.arange(len(w)) + 0.5) / fps
    closure = VISEME_POSES[AZURE["p"]].astype(w.dtype)
    for seg in phones:
        if seg.label not in BILABIAL:
            continue
        mid, half = 0.5 * (seg.start + seg.end), 0.5 * (seg.end - seg.start)
        ramp = 0.03
        lo, hi = np.searchsorted(t, [seg.start - ramp, seg.end + ramp])
        e = np.clip((half * 0.6 + ramp - np.abs(t[lo:hi] - mid)) / ramp, 0.0, 1.0)[:, None]
        w[lo:hi] = (1 - e) * w[lo:hi] + e * closure
    return w


def _smooth(w: np.ndarray, fps: int) -> np.ndarray:
    """Light temporal smoothing (Gaussian, sigma 8 ms) so onsets and releases have no corners."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(w, sigma=0.008 * fps, axis=0, mode="nearest")

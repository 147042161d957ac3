"""Procedural co-articulation: phone timings -> ARKit weight curves at 60 fps.

A dominance model (Cohen & Massaro) per channel group: every phone pulls each ARKit channel
toward its viseme pose with a dominance that is flat inside the phone and decays outside it,
faster or slower by class. Lips and jaw have separate dominances so that, for example, a rounded
vowel's pucker starts ~150 ms early (anticipatory rounding) through the consonants before it,
while those consonants keep their own jaw height. Bilabials (p/b/m) are hard constraints: the lips
meet in the middle of every one. A JALI-style style control scales jaw and lip activity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from voca_cn.core.arkit import INDEX, NAMES
from voca_cn.core.phones import AZURE, PHONE_INDEX, PHONES, VISEME_POSES, split_diphthong
from voca_cn.core.timing import FPS, Segment

JAW = np.array([INDEX[n] for n in ("jawOpen", "jawForward", "tongueOut")])
ROUNDING = np.array([INDEX[n] for n in ("mouthPucker", "mouthFunnel")])
LIPS = np.array([i for i, n in enumerate(NAMES) if n.startswith("mouth") and i not in ROUNDING])
GROUPS = (JAW, ROUNDING, LIPS)
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


def dominances(phones: Sequence[Segment], duration: float, fps: int = FPS, decay: float = 1.0,
               shift: float = 0.0) -> np.ndarray:
    """(T, P, 3) share of each inventory phone in each frame, per channel group (jaw, rounding,
    other lips): the dominance-model blend weights, each frame's row summing to 1.

    ``decay`` scales every dominance's fall-off time; ``shift`` (s) moves every phone later
    (the real face's timing against the audio, as :func:`fit` finds it)."""
    n = max(1, int(np.ceil(duration * fps - 1e-9)))
    t = (np.arange(n) + 0.5) / fps  # frame centres
    dom = np.zeros((n, len(PHONES), 3), np.float64)
    reach = 0.6 * max(decay, 1.0)
    for seg in _units(phones):
        k = PHONE_INDEX[seg.label]
        strength, before, after, anticip = _dominance(seg.label)
        start, end = seg.start + shift, seg.end + shift
        lo, hi = np.searchsorted(t, [start - reach, end + reach])
        if hi <= lo:
            continue
        tt = t[lo:hi]
        mid = 0.5 * (start + end)
        outside = np.maximum(np.abs(tt - mid) - 0.25 * (end - start), 0.0)
        for g in range(3):
            fall = decay * np.where(tt < mid, anticip if g == 1 else before, after)
            dom[lo:hi, k, g] += strength * np.exp(-outside / fall)
    return dom / (dom.sum(1, keepdims=True) + 1e-9)


def blend(dom: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """(T, P, 3) phone shares x (P, 52) poses -> (T, 52) weights, each channel blended with
    its own group's shares."""
    w = np.zeros((len(dom), 52))
    for g, idx in enumerate(GROUPS):
        w[:, idx] = dom[:, :, g] @ poses[:, idx]
    return w


def animate(phones: Sequence[Segment], duration: float, style: Style = Style(), fps: int = FPS,
            fitted: "Fitted | None" = None) -> np.ndarray:
    """Phone segments (inventory labels, seconds) -> ARKit weights (T, 52) float32 at ``fps``,
    T = ceil(duration * fps), with the poses and timing fitted to real lips (default: the
    shipped :data:`FITTED`). Memory and time are linear in duration (each phone touches only
    frames within ~0.6 s of it)."""
    fitted = fitted or FITTED
    w = blend(dominances(phones, duration, fps, fitted.decay, fitted.shift), fitted.poses)
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


# ----------------------------------------------------------------------------- fitted to real lips
FIT_FILE = Path(__file__).resolve().parent.parent / "assets" / "models" / "animator.json"


@dataclass(frozen=True)
class Fitted:
    """Poses per inventory phone (P, 52) and timing (dominance ``decay`` scale, ``shift`` in s)."""
    poses: np.ndarray
    decay: float = 1.0
    shift: float = 0.0

    @classmethod
    def load(cls, path: Path = FIT_FILE) -> "Fitted":
        """The shipped fit, or the hand-set poses where there is none."""
        poses = HAND_SET.copy()
        if not path.is_file():
            return cls(poses)
        d = json.loads(path.read_text())
        for phone, pose in d["poses"].items():
            for name, value in pose.items():
                poses[PHONE_INDEX[phone], INDEX[name]] = value
        return cls(poses, float(d["decay"]), float(d["shift"]))


HAND_SET = np.array([VISEME_POSES[AZURE[p]] for p in PHONES], np.float64)  # (P, 52) by viseme


FITTED = Fitted.load()

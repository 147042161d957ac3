"""The one check of keyframe data every animation reader goes through (glTF/GLB, Live Link CSV,
ARKit JSON; ``animation.npz`` has no times, its fps goes through :func:`rate`).

Times must be finite and strictly increasing (a file's rows are put in time order first where the
format stamps each row, as Live Link's timecodes do); the frame rate must be a real number of
frames per second; a file must name at least one ARKit shape, and none that is not one.
"""

from __future__ import annotations

import numpy as np

from voca_cn import VocaError
from voca_cn.core import bounds
from voca_cn.core.arkit import NAMES

RATE = bounds.Bound(float, 1.0, 240.0, "frames per second")
MAX_FRAMES = 4_000_000  # 18.5 h at 60 fps; (T, 52) float32 = 830 MB


def frame_count(n: int, where: str) -> int:
    """``n`` frames or keys, refused beyond :data:`MAX_FRAMES` before anything is allocated for them."""
    if n > MAX_FRAMES:
        raise VocaError(f"{where} has {n} frames, more than the {MAX_FRAMES} voca-cn reads; split the take")
    return n
_KEYS = {n.lower(): i for i, n in enumerate(NAMES)}


def rate(value: object, where: str) -> float:
    """A file's frame rate (JSON number, or text) -> float fps in [1, 240]; ``true``, text that is
    no number, NaN or 0 -> VocaError naming ``where``."""
    try:
        return float(RATE.check(value))
    except ValueError as e:
        raise VocaError(f"{where}: fps {e}; export the file again") from None


def uniform(times: np.ndarray, values: np.ndarray, where: str) -> tuple[np.ndarray, float]:
    """Keyframes at ``times`` (K,) seconds with ``values`` (K, 52) -> (weights (T, 52) float32
    at a uniform rate, fps). The rate is the median key spacing; keys off that grid (a tool that
    drops repeated keys) are linearly interpolated onto it, frame 0 at the first key."""
    t = np.asarray(times, np.float64).reshape(-1)
    v = np.asarray(values, np.float32)
    if len(t) == 0:
        raise VocaError(f"{where} has no keyframes; export the animation again")
    if not np.isfinite(t).all():
        raise VocaError(f"{where}: keyframe times are not finite (NaN/inf); export the animation again")
    step = np.diff(t)
    if (step <= 0).any():
        i = int(np.argmax(step <= 0)) + 1
        raise VocaError(f"{where}: keyframe times must increase, but key {i} is at {t[i]:.6g} s after "
                        f"{t[i - 1]:.6g} s; export the animation again")
    if len(t) == 1:
        return v[:1], 60.0
    fps = rate(round(1.0 / float(np.median(step)), 3), where)
    n = int(round((t[-1] - t[0]) * fps)) + 1
    if n > min(max(100 * len(t), 3600 * fps), MAX_FRAMES):  # a stray key far out would make the grid gigabytes
        raise VocaError(f"{where}: {len(t)} keys spread over {t[-1] - t[0]:.6g} s at {fps:g} fps; "
                        "export the animation again with a key per frame")
    grid = t[0] + np.arange(n) / fps
    if len(t) == n and np.abs(t - grid).max() < 0.05 / fps:
        return v, fps
    return np.stack([np.interp(grid, t, v[:, k]) for k in range(v.shape[1])], 1).astype(np.float32), fps


def columns(names: list[str], where: str, allowed: tuple[str, ...] = ()) -> dict[int, int]:
    """ARKit index -> position in ``names`` (any case). ``allowed``: other names the format
    carries (lower case), skipped. No ARKit name, or one name neither ARKit nor allowed -> VocaError."""
    found, unknown = {}, []
    for j, name in enumerate(names):
        key = str(name).strip().lower()
        if key in _KEYS:
            found.setdefault(_KEYS[key], j)
        elif key not in allowed:
            unknown.append(str(name)[:40])
    if unknown:
        raise VocaError(f"{where} names {len(unknown)} shape(s) that are not ARKit blendshapes "
                        f"({', '.join(map(repr, unknown[:4]))}{', ...' if len(unknown) > 4 else ''}); "
                        "use Apple's 52 names (jawOpen, mouthClose, ...)")
    if not found:
        raise VocaError(f"{where} has no ARKit shape columns (jawOpen, mouthClose, ...); "
                        "export it with the 52 ARKit blendshapes")
    return found

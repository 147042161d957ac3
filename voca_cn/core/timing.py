"""The clock every stage shares: audio at ``SR``, animation at ``FPS``, phones and words as timed
``Segment``s, and frame-rate conversion of (T, D) curves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SR = 16000  # Hz: every stage reads audio at this rate
FPS = 60  # animation frames per second: the native output rate


@dataclass(frozen=True)
class Segment:
    """One aligned unit: an inventory phone (or a word) from ``start`` to ``end`` seconds."""
    label: str
    start: float
    end: float


def merge_silences(phones: list[Segment], duration: float) -> list[Segment]:
    """Fill gaps with silence, merge adjacent silences, cover [0, duration]."""
    out: list[Segment] = []
    t = 0.0
    for p in phones:
        if p.start > t + 1e-6:
            out.append(Segment("sil", t, p.start))
        out.append(p)
        t = p.end
    if t < duration - 1e-6:
        out.append(Segment("sil", t, duration))
    merged: list[Segment] = []
    for p in out:
        if merged and p.label == "sil" and merged[-1].label == "sil":
            merged[-1] = Segment("sil", merged[-1].start, p.end)
        else:
            merged.append(p)
    return merged


def n_frames(n_samples: int, sr: int = SR, fps: int = 60) -> int:
    """Animation frames covering ``n_samples`` of audio: frame i covers [i/fps, (i+1)/fps)."""
    return max(1, int(np.ceil(n_samples * fps / sr - 1e-9)))


def resample_frames(frames: np.ndarray, rate_in: float, rate_out: float, n: int | None = None,
                    block: int = 65536) -> np.ndarray:
    """Linear resampling of (T, D) frames (weight curves, phone probabilities) between frame
    rates; frame i sits at i / rate, the ends are held. ``n`` output frames (default: as many
    as cover the input)."""
    n = n or max(1, int(np.ceil(len(frames) * rate_out / rate_in - 1e-9)))
    if rate_in == rate_out and n == len(frames):
        return frames
    out = np.empty((n, frames.shape[1]), np.float32)
    for s in range(0, n, block):  # in blocks: hours of phone probabilities are hundreds of MB
        out[s:s + block] = lerp_frames(frames, np.arange(s, min(s + block, n)) * (rate_in / rate_out))
    return out


def lerp_frames(frames: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(T, D) frames read at fractional positions ``pos`` (N,) (in frames, past the end held)
    -> (N, D) float32. A stream passes positions relative to the frames it still holds and gets
    the same values as the whole sequence."""
    i = np.clip(np.floor(pos).astype(int), 0, len(frames) - 1)
    j = np.minimum(i + 1, len(frames) - 1)
    f = np.clip(pos - i, 0, 1)[:, None]
    return ((1 - f) * frames[i] + f * frames[j]).astype(np.float32)

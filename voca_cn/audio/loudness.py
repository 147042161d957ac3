"""Loudness per animation frame: how far each 60 fps frame's RMS sits between the recording's
running noise floor (0) and its running peak (1), in dB, smoothed. Scale-free (any recording level,
any steady noise) and causal: a frame's value reads only the audio up to its end, so a stream
gets the values of the whole file whatever the chunk sizes.
"""

from __future__ import annotations

import numpy as np

from voca_cn.core.timing import FPS, SR

# loudness: dB per frame placed between a running noise floor (rises 1.2 dB/s, follows drops at
# once) and a running peak (falls 3 dB/s, follows rises at once), at least MIN_SPAN_DB and at most
# MAX_SPAN_DB apart, then smoothed over SMOOTH_S
PEAK_DECAY_DB, FLOOR_RISE_DB, MIN_SPAN_DB, MAX_SPAN_DB, SMOOTH_S = 0.05, 0.02, 25.0, 50.0, 0.05


class Loudness:
    """Streaming loudness: push 16 kHz samples, get the (k,) float32 values in [0, 1] of the
    60 fps frames they completed (frame i covers samples [i*SR//FPS, (i+1)*SR//FPS))."""

    def __init__(self):
        self.pending = np.zeros(0, np.float32)
        self.frames = 0
        self.peak = self.floor = None
        self.smooth = 0.0
        self.alpha = float(np.exp(-1.0 / (SMOOTH_S * FPS)))

    def push(self, samples: np.ndarray, end: bool = False, total: int | None = None) -> np.ndarray:
        """Append (S,) samples; -> (k,) float32 values of the frames completed. ``end``: the audio is
        over, so every frame up to ``total`` is complete (silence past the last sample)."""
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32).reshape(-1)])
        start = self.frames * SR // FPS  # the sample pending[0] is
        out, i = [], self.frames
        while True:
            a, b = i * SR // FPS - start, (i + 1) * SR // FPS - start
            if (end and (total is None or i >= total)) or (not end and b > len(self.pending)):
                break
            out.append(self._frame(self.pending[a:b]))
            i += 1
        self.pending = self.pending[min(len(self.pending), i * SR // FPS - start):]
        self.frames = i
        return np.asarray(out, np.float32)

    def _frame(self, x: np.ndarray) -> float:
        ms = float(np.var(x, dtype=np.float64)) if len(x) else 0.0  # about the frame's mean: a DC offset is not sound
        db = 10 * np.log10(ms + 1e-10)
        if self.peak is None:
            self.peak = self.floor = db
        self.peak = max(db, self.peak - PEAK_DECAY_DB)
        self.floor = max(min(db, self.floor + FLOOR_RISE_DB), self.peak - MAX_SPAN_DB)
        level = min(1.0, max(0.0, (db - self.floor) / max(self.peak - self.floor, MIN_SPAN_DB)))
        self.smooth = self.alpha * self.smooth + (1 - self.alpha) * level
        return self.smooth


def loudness(audio: np.ndarray, n: int) -> np.ndarray:
    """(S,) float32 16 kHz -> (n,) float32 loudness per 60 fps frame in [0, 1] (see :class:`Loudness`)."""
    return Loudness().push(audio, end=True, total=n)

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
BLOCK = 2048  # frames measured at once (a few MB)


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
        if end:
            stop = max(self.frames, total or 0)
        else:  # the last frame i with (i + 1) * SR // FPS <= the samples had
            stop = max(self.frames, ((start + len(self.pending) + 1) * FPS - 1) // SR)
        bounds = np.arange(self.frames, stop + 1) * SR // FPS - start
        out = np.empty(stop - self.frames, np.float32)
        for a in range(0, len(out), BLOCK):  # a block of frames at a time: bounded memory
            db = 10 * np.log10(frame_power(self.pending, bounds[a:a + BLOCK + 1]) + 1e-10)
            out[a:a + BLOCK] = [self._frame(x) for x in db.tolist()]
        self.pending = self.pending[min(len(self.pending), bounds[-1]):]
        self.frames = stop
        return out

    def _frame(self, db: float) -> float:
        """The next frame's value from its power in dB (float arithmetic: this runs once a frame)."""
        if self.peak is None:
            self.peak = self.floor = db
        self.peak = max(db, self.peak - PEAK_DECAY_DB)
        self.floor = max(min(db, self.floor + FLOOR_RISE_DB), self.peak - MAX_SPAN_DB)
        level = min(1.0, max(0.0, (db - self.floor) / max(self.peak - self.floor, MIN_SPAN_DB)))
        self.smooth = self.alpha * self.smooth + (1 - self.alpha) * level
        return self.smooth


def frame_power(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean square about its own mean (a DC offset is not sound) of each frame x[bounds[i]:bounds[i + 1]]
    (the part inside x; none: 0) -> (len(bounds) - 1,) float64. Every frame is one zero-padded row of
    a matrix, reduced alone: a frame's value does not depend on which others come with it (a
    stream's chunks give the file's values)."""
    width = SR // FPS + 1
    span = np.zeros(bounds[-1] - bounds[0] + width, np.float32)
    piece = x[bounds[0]:bounds[-1]]
    span[:len(piece)] = piece
    rows = np.lib.stride_tricks.sliding_window_view(span, width)[bounds[:-1] - bounds[0]].astype(np.float64)
    n = np.clip(np.minimum(bounds[1:], len(x)) - bounds[:-1], 0, None)
    valid = np.arange(width) < n[:, None]
    rows[~valid] = 0.0
    mean = rows.sum(1) / np.maximum(n, 1)
    rows -= mean[:, None]
    rows[~valid] = 0.0
    return (rows * rows).sum(1) / np.maximum(n, 1)


def loudness(audio: np.ndarray, n: int) -> np.ndarray:
    """(S,) float32 16 kHz -> (n,) float32 loudness per 60 fps frame in [0, 1] (see :class:`Loudness`)."""
    return Loudness().push(audio, end=True, total=n)

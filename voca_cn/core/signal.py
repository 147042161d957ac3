"""Signal statistics shared by evaluation, sync and fitting: correlation and lag of (T,) curves."""

from __future__ import annotations

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r of two equal-length series; None where either is flat."""
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / d) if d > 1e-12 else None


def lag_frames(pred: np.ndarray, ref: np.ndarray, max_lag: int) -> np.ndarray:
    """(2 max_lag + 1,) cross-correlation sums of mean-removed curves; index max_lag + k is
    ``pred`` shifted k frames later than ``ref`` (k > 0: prediction late)."""
    n = min(len(pred), len(ref))
    x, y = pred[:n] - pred[:n].mean(), ref[:n] - ref[:n].mean()
    out = np.zeros(2 * max_lag + 1)
    for k, lag in enumerate(range(-max_lag, max_lag + 1)):
        out[k] = x[lag:] @ y[:n - lag] if lag >= 0 else x[:n + lag] @ y[-lag:]
    return out


def peak_lag(xcorr: np.ndarray) -> float:
    """Index offset of the peak of a (2 K + 1,) lag curve from its centre, refined below one
    step by a parabola through the peak and its neighbours."""
    k = int(np.argmax(xcorr))
    frac = 0.0
    if 0 < k < len(xcorr) - 1:
        a, b, c = xcorr[k - 1:k + 2]
        den = a - 2 * b + c
        frac = 0.5 * (a - c) / den if den < 0 else 0.0
    return k - (len(xcorr) - 1) // 2 + frac


def lag_curve(video: np.ndarray, audio: np.ndarray, max_lag: int) -> np.ndarray:
    """(2 max_lag + 1,) Pearson r of video[t] with audio[t + k] for k = -max_lag..max_lag, each
    over the frames both cover."""
    out = np.full(2 * max_lag + 1, np.nan)
    n = min(len(video), len(audio))
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        a, b = (video[:n - k], audio[k:n]) if k >= 0 else (video[-k:n], audio[:n + k])
        if len(a) > 10:
            a, b = a - a.mean(), b - b.mean()
            d = np.sqrt((a @ a) * (b @ b))
            out[i] = a @ b / d if d > 0 else 0.0
    return out

"""Audio-visual sync of a talking-face video (what SyncNet measures, Chung & Zisserman 2016):
the mouth motion the audio predicts against the mouth motion the video shows.

The audio goes through the lip-sync model to the template's inner-lip aperture; the video's
face is tracked to its aperture (same yardstick, scale-free). Both are put on one 100 Hz grid,
and the Pearson correlation of the openings and of their frame-to-frame changes (averaged) is
computed at every lag within +-``max_lag``. Sign convention: a positive offset means the audio is late (heard after the mouth
moves); shift the audio earlier by that much to fix it. Confidence is the peak correlation minus
the median over all lags (SyncNet's "AV confidence" in spirit): near 0 when no lag explains the
mouth, higher the more one lag stands out.
"""

from __future__ import annotations

import numpy as np

from voca_cn.core.signal import lag_curve, peak_lag
from voca_cn.core.timing import resample_frames

RATE = 100.0  # Hz, the grid both curves are compared on (10 ms lag steps)
SMOOTH = 2.0  # grid steps of Gaussian smoothing; chosen on grid-s1's val clips (data/benchmark_sync.py)


def motion(curve: np.ndarray, rate: float) -> np.ndarray:
    """(N,) aperture at ``rate`` -> (2, M) on the 100 Hz grid, lightly smoothed (20 ms): the
    opening itself and its change per 10 ms, each z-scored. Both count: the opening carries the
    syllable rhythm, its change the exact moments the lips part and meet."""
    from scipy.ndimage import gaussian_filter1d

    x = resample_frames(np.asarray(curve, np.float32)[:, None], rate, RATE)[:, 0].astype(np.float64)
    x = gaussian_filter1d(x, SMOOTH)
    feats = np.stack([x, np.diff(x, prepend=x[0])])
    return (feats - feats.mean(1, keepdims=True)) / (feats.std(1, keepdims=True) + 1e-12)


def offset(video_aperture: np.ndarray, video_fps: float, audio_aperture: np.ndarray,
           audio_fps: float = 60.0, max_lag: float = 1.0) -> dict:
    """Offset of the audio against the video (ms, > 0: audio late) and its confidence.

    video_aperture: (N,) tracked aperture at ``video_fps``; audio_aperture: (M,) the aperture
    the audio predicts at ``audio_fps``. Returns offset_ms, confidence, peak_r and the lag
    curve (r per 10 ms lag step)."""
    v, a = motion(video_aperture, video_fps), motion(audio_aperture, audio_fps)
    k = int(round(max_lag * RATE))
    r = np.mean([lag_curve(x, y, k) for x, y in zip(v, a)], axis=0)
    filled = np.nan_to_num(r, nan=-1.0)
    peak = float(filled.max())
    return {"offset_ms": float(peak_lag(filled) * 1000 / RATE),
            "confidence": float(peak - np.nanmedian(r)), "peak_r": peak,
            "lags_ms": [float((i - k) * 1000 / RATE) for i in range(len(r))],
            "r": [None if np.isnan(x) else round(float(x), 4) for x in r]}


def audio_aperture(audio: np.ndarray, animator, template) -> np.ndarray:
    """(S,) 16 kHz audio -> (T,) the template's aperture at 60 fps under the model's curves."""
    return template.aperture(template.deform(animator(audio)))

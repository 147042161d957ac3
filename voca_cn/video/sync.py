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

import os
import subprocess
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.files import atomic_path
from voca_cn.core.signal import lag_curve, peak_lag
from voca_cn.core.timing import resample_frames

RATE = 100.0  # Hz, the grid both curves are compared on (10 ms lag steps)
# EBU R37: sound may lead the picture by at most 40 ms and lag it by at most 60 ms
TOLERANCE_MS = (-40.0, 60.0)
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
    curve (r per 10 ms lag step). Raises VocaError when the curves overlap too little to compare."""
    v, a = motion(video_aperture, video_fps), motion(audio_aperture, audio_fps)
    k = int(round(max_lag * RATE))
    r = np.mean([lag_curve(x, y, k) for x, y in zip(v, a)], axis=0)
    if np.isnan(r).all():  # too few frames for any lag: nothing measured, and no NaN in the result
        raise VocaError(f"the video and audio overlap by {min(v.shape[1], a.shape[1]) / RATE:.2f} s, too "
                        "little to measure their sync; give at least 1 s of video with a visible face")
    filled = np.nan_to_num(r, nan=-1.0)
    peak = float(filled.max())
    return {"offset_ms": float(peak_lag(filled) * 1000 / RATE),
            "confidence": float(peak - np.nanmedian(r)), "peak_r": peak,
            "lags_ms": [float((i - k) * 1000 / RATE) for i in range(len(r))],
            "r": [None if np.isnan(x) else round(float(x), 4) for x in r]}


def audio_aperture(audio: np.ndarray, animator, template) -> np.ndarray:
    """(S,) 16 kHz audio -> (T,) the template's aperture at 60 fps under the model's curves."""
    return template.aperture(template.deform(animator(audio)))


def sync_report(video, tracking, result: dict) -> dict:
    """What ``voca-cn sync`` prints: the :func:`offset` result rounded, its sign convention and the
    tracking's frame counts (plain JSON: no NaN, :func:`offset` never returns one)."""
    return {"video": str(video), "offset_ms": round(result["offset_ms"], 1),
            "confidence": round(result["confidence"], 4), "peak_r": round(result["peak_r"], 4),
            "convention": "offset_ms > 0: audio late (heard after the mouth moves); "
                          "shift the audio earlier by offset_ms to fix",
            "frames": len(tracking.found), "faces_found": int(tracking.found.sum()),
            "lags_ms": result["lags_ms"], "r": result["r"]}


def verdict(offset_ms: float, confidence: float) -> str:
    """One line a person reads: in sync or not (EBU R37's tolerance), which way, and the fix."""
    lo, hi = TOLERANCE_MS
    side = "late (heard after the lips move)" if offset_ms > 0 else "early (heard before the lips move)"
    if lo <= offset_ms <= hi:
        return (f"in sync: the audio is {abs(offset_ms):.0f} ms {side.split()[0]}, within EBU R37's "
                f"{-lo:.0f} ms early / {hi:.0f} ms late (confidence {confidence:.2f})")
    return (f"out of sync: the audio is {abs(offset_ms):.0f} ms {side} (confidence {confidence:.2f}); "
            "--shift FIXED.mp4 writes the video with the audio moved into place")


def shift_audio(video: str | os.PathLike, audio: str | os.PathLike, offset_ms: float, out: str | os.PathLike) -> Path:
    """Write ``out``: the picture of ``video`` (copied, not re-encoded) with the sound of ``audio``
    moved by -``offset_ms`` (late audio is cut at its start, early audio delayed by silence),
    AAC-encoded; the same bytes for the same inputs."""
    import imageio_ffmpeg

    out = Path(out)
    if out.exists():
        raise VocaError(f"{out} already exists; choose another --shift file")
    d = abs(offset_ms) / 1000
    move = (f"atrim=start={d:.4f},asetpts=PTS-STARTPTS" if offset_ms > 0
            else f"adelay={abs(offset_ms):.1f}:all=1")
    with atomic_path(out) as tmp:
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-i", str(audio),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", move, "-c:a", "aac", "-b:a", "128k",
               "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1", "-shortest", str(tmp)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            text = (proc.stderr.strip().splitlines() or ["ffmpeg failed"])[-1][:200]
            raise VocaError(f"cannot write {out} ({text}); give an .mp4/.mov/.mkv name")
    return out

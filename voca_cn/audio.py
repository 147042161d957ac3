"""Audio in: any WAV/FLAC/OGG/MP3 (or a video's soundtrack), any rate, channels or bit depth -> 16 kHz mono float32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError

SR = 16000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: nothing to animate


def load(path: str | os.PathLike, sr: int = SR) -> np.ndarray:
    """Read an audio file, downmix and resample.

    Returns (S,) float32 in [-1, 1] at ``sr`` Hz. Reads in blocks and downmixes as it goes, so a
    long multichannel file never sits in memory at full width.
    """
    import resampy
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"audio file {path} does not exist; check the path")
    from voca_cn.tracking import VIDEO_SUFFIXES, video_audio

    if path.suffix.lower() in VIDEO_SUFFIXES:  # a video's soundtrack, decoded by ffmpeg
        return _checked(video_audio(path, sr), sr, path)
    try:
        with sf.SoundFile(path) as f:
            native = f.samplerate
            blocks = [b.mean(axis=1) if b.ndim == 2 else b
                      for b in f.blocks(blocksize=native * 30, dtype="float32", always_2d=True)]
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise VocaError(f"cannot read audio {path} ({str(e).strip().splitlines()[0]}); "
                        "give a WAV, FLAC, OGG or MP3 file") from None
    y = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    y = _checked(y, native, path)
    if native != sr:
        y = resampy.resample(y, native, sr, filter="kaiser_fast")
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _checked(y: np.ndarray, native: int, path: Path) -> np.ndarray:
    """``y`` unchanged, or a one-line error for empty, too short, non-finite or silent audio."""
    if len(y) == 0:
        raise VocaError(f"audio {path} is empty; give a recording with speech in it")
    if len(y) < MIN_SECONDS * native:
        raise VocaError(f"audio {path} is too short ({len(y) / native * 1000:.0f} ms); "
                        f"give at least {MIN_SECONDS * 1000:.0f} ms")
    if not np.isfinite(y).all():
        raise VocaError(f"audio {path} contains non-finite samples; re-export it")
    if np.abs(y).max() < SILENCE_PEAK:
        raise VocaError(f"audio {path} is silent (peak below -80 dBFS); check the recording level")
    return y


def n_frames(n_samples: int, sr: int = SR, fps: int = 60) -> int:
    """Animation frames covering ``n_samples`` of audio: frame i covers [i/fps, (i+1)/fps)."""
    return max(1, int(np.ceil(n_samples * fps / sr - 1e-9)))

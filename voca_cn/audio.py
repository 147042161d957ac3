"""Audio in: any WAV/FLAC/OGG/MP3 (or a video's soundtrack), any rate, channels or bit depth -> 16 kHz mono float32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError

SR = 16000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: nothing to animate
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mpg", ".mpeg", ".webm", ".mkv", ".m4v")


def load(path: str | os.PathLike, sr: int = SR) -> np.ndarray:
    """Read an audio file, downmix and resample.

    Returns (S,) float32 in [-1, 1] at ``sr`` Hz. Reads in blocks and downmixes as it goes, so a
    long multichannel file never sits in memory at full width.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"audio file {path} does not exist; check the path")
    if path.suffix.lower() in VIDEO_SUFFIXES:  # a video's soundtrack, decoded by ffmpeg
        from voca_cn.tracking import video_audio

        return prepare(video_audio(path, sr), sr, sr, f"audio of {path}")
    try:
        with sf.SoundFile(path) as f:
            native = f.samplerate
            blocks = [b.mean(axis=1) if b.ndim == 2 else b
                      for b in f.blocks(blocksize=native * 30, dtype="float32", always_2d=True)]
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise VocaError(f"cannot read audio {path} ({str(e).strip().splitlines()[0]}); "
                        "give a WAV, FLAC, OGG or MP3 file") from None
    y = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return prepare(y, native, sr, f"audio {path}")


def prepare(y: np.ndarray, native: float, sr: int = SR, what: str = "the audio") -> np.ndarray:
    """Check (S,) or (S, channels) samples at ``native`` Hz and bring them to (S',) float32 in
    [-1, 1] at ``sr`` Hz (soxr, high quality). ``what`` names the input in the one-line errors."""
    y = np.asarray(y, np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise VocaError(f"{what} has shape {y.shape}; give (samples,) or (samples, channels)")
    if not native or native <= 0:
        raise VocaError(f"{what}: sample rate {native} is invalid; pass the rate in Hz, e.g. sr=16000")
    if len(y) == 0:
        raise VocaError(f"{what} is empty; give a recording with speech in it")
    if len(y) < MIN_SECONDS * native:
        raise VocaError(f"{what} is too short ({len(y) / native * 1000:.0f} ms); "
                        f"give at least {MIN_SECONDS * 1000:.0f} ms")
    if not np.isfinite(y).all():
        raise VocaError(f"{what} contains non-finite samples; re-export it")
    if np.abs(y).max() < SILENCE_PEAK:
        raise VocaError(f"{what} is silent (peak below -80 dBFS); check the recording level")
    if native != sr:
        import soxr

        y = soxr.resample(y, native, sr, "HQ")
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def n_frames(n_samples: int, sr: int = SR, fps: int = 60) -> int:
    """Animation frames covering ``n_samples`` of audio: frame i covers [i/fps, (i+1)/fps)."""
    return max(1, int(np.ceil(n_samples * fps / sr - 1e-9)))

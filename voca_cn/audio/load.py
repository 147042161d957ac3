"""Audio in: any WAV/FLAC/OGG/MP3 (or a video's soundtrack), any rate, channels or bit depth -> 16 kHz mono float32."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.files import one_line
from voca_cn.core.timing import SR

MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # below -80 dBFS everywhere: nothing to animate
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mpg", ".mpeg", ".webm", ".mkv", ".m4v")


def load(path: str | os.PathLike, sr: int = SR) -> np.ndarray:
    """Read an audio file, downmix and resample.

    Returns (S,) float32 in [-1, 1] at ``sr`` Hz. Streams: blocks of the file are downmixed and
    resampled (soxr, as :func:`prepare`: the same samples) as they are read, so memory holds the
    16 kHz result and one block, whatever the file's rate, channels or length (a 2-hour 48 kHz
    stereo file needs ~0.5 GB, not 2.7 GB).
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"audio file {path} does not exist; check the path")
    if path.suffix.lower() in VIDEO_SUFFIXES:  # a video's soundtrack, decoded by ffmpeg
        return prepare(video_audio(path, sr), sr, sr, f"audio of {path}")
    try:  # errstate: a non-finite sample is reported below as one line, not as numpy warnings
        with sf.SoundFile(path) as f, np.errstate(invalid="ignore", over="ignore"):
            native = f.samplerate
            _check_rate(native, f"audio {path}")
            mono = (b.mean(axis=1, dtype=np.float32) for b in
                    f.blocks(blocksize=BLOCK_SECONDS * native, dtype="float32", always_2d=True))
            # the header's length, trusted only as far as the file's size allows (a corrupt header
            # must not allocate terabytes)
            expected = min(max(f.frames, 0), path.stat().st_size * 64)
            y, peak, n_native = _resampled(mono, native, sr, expected)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError) as e:
        raise VocaError(f"cannot read audio {path} ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}); "
                        "give a WAV, FLAC, OGG or MP3 file") from None
    _check(n_native, native, peak, f"audio {path}")
    return np.clip(y, -1.0, 1.0, out=y)


def prepare(y: np.ndarray, native: float, sr: int = SR, what: str = "the audio") -> np.ndarray:
    """Check (S,) or (S, channels) samples at ``native`` Hz and bring them to (S',) float32 in
    [-1, 1] at ``sr`` Hz (soxr, high quality). ``what`` names the input in the one-line errors.

    Samples: float in [-1, 1], or PCM integers (int16 / int32 / uint8, scaled by their full range
    as a WAV stores them); several channels are columns, (samples, channels), and are averaged."""
    y = _as_float(y, what)
    if y.ndim == 2:
        if y.shape[1] > 16 and y.shape[0] <= 16:
            raise VocaError(f"{what} has shape {y.shape}: channels must be columns, (samples, channels); "
                            "pass samples.T")
        with np.errstate(invalid="ignore", over="ignore"):
            y = y.mean(axis=1, dtype=np.float32)
    if y.ndim != 1:
        raise VocaError(f"{what} has shape {y.shape}; give (samples,) or (samples, channels)")
    if isinstance(native, (bool, str)) or not isinstance(native, (int, float, np.number)) \
            or not native or not native > 0:
        raise VocaError(f"{what}: sample rate {native!r} is invalid; pass the rate in Hz as a number, e.g. sr=16000")
    _check_rate(native, what)
    _check(len(y), native, _peak(y), what)
    if native != sr:
        import soxr

        y = soxr.resample(y, native, sr, QUALITY)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _as_float(y, what: str) -> np.ndarray:
    """Samples as float32 in [-1, 1]: PCM integers divided by their full scale (int16 / 32768)."""
    if isinstance(y, (bytes, bytearray, memoryview, str)) or not hasattr(y, "__len__"):
        raise VocaError(f"{what} is a {type(y).__name__}; give a file path or a numpy array of samples "
                        "(decode bytes with soundfile.read(io.BytesIO(data)); stream chunks with voca_cn.Stream)")
    try:
        a = np.asarray(y)
    except (ValueError, TypeError) as e:
        raise VocaError(f"{what} is not an array of samples ({one_line(e)})") from None
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        mid = (int(info.max) + int(info.min) + 1) / 2  # 128 for uint8, 0 for signed
        return ((a.astype(np.float64) - mid) / (int(info.max) + 1 - mid)).astype(np.float32)
    if a.dtype.kind != "f":
        raise VocaError(f"{what} holds {a.dtype} values; give float samples in [-1, 1] or PCM integers")
    return a.astype(np.float32)


QUALITY = "HQ"  # soxr's
MIN_RATE, MAX_RATE = 1000, 384000
BLOCK_SECONDS = 30


def _check_rate(native: float, what: str) -> None:
    if not MIN_RATE <= native <= MAX_RATE:
        raise VocaError(f"{what} has sample rate {native} Hz; give {MIN_RATE}-{MAX_RATE} Hz audio")


def _peak(y: np.ndarray) -> float:
    """Peak |sample|, nan if any sample is not finite."""
    return float(np.abs(y).max(initial=0.0)) if np.isfinite(y).all() else np.nan


def _check(n: int, native: float, peak: float, what: str) -> None:
    """Refuse n samples at ``native`` Hz with peak |sample| ``peak``: empty, too short, not finite, silent."""
    if n == 0:
        raise VocaError(f"{what} is empty; give a recording with speech in it")
    if n < MIN_SECONDS * native:
        raise VocaError(f"{what} is too short ({n / native * 1000:.0f} ms); "
                        f"give at least {MIN_SECONDS * 1000:.0f} ms")
    if not np.isfinite(peak):
        raise VocaError(f"{what} contains non-finite samples; re-export it")
    if peak < SILENCE_PEAK:
        raise VocaError(f"{what} is silent (peak below -80 dBFS); check the recording level")


def _resampled(blocks, native: int, sr: int, expected: int) -> tuple[np.ndarray, float, int]:
    """Mono float32 blocks at ``native`` Hz -> ((S,) float32 at ``sr``, peak |sample| of the input
    (nan if any sample is not finite), input length). soxr's stream resampler gives the samples its
    one-shot ``resample`` gives. ``expected`` input samples (the header's count) size the output
    buffer up front, so it is never copied when the header is right."""
    import soxr

    stream = soxr.ResampleStream(native, sr, 1, dtype="float32", quality=QUALITY) if native != sr else None
    out, pos, peak, n = np.empty(int(np.ceil(expected * sr / native)) + 16, np.float32), 0, 0.0, 0

    def emit(y: np.ndarray) -> None:
        nonlocal out, pos
        if pos + len(y) > len(out):  # the header undercounted (compressed formats estimate)
            out = np.concatenate([out[:pos], np.empty(max(len(y), pos), np.float32)])
        out[pos:pos + len(y)] = y
        pos += len(y)

    for block in blocks:
        n += len(block)
        p = _peak(block)
        peak = max(peak, p) if np.isfinite(p) else np.nan  # once nan, max keeps it
        if stream is not None and np.isfinite(peak):  # soxr is not fed non-finite samples
            block = stream.resample_chunk(block)
        emit(block)
    if stream is not None and np.isfinite(peak):
        emit(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    return out[:pos], peak, n




def video_audio(path: str | os.PathLike, sr: int = 16000) -> np.ndarray:
    """The soundtrack of a video file, (S,) float32 mono at ``sr`` Hz (ffmpeg decodes it)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(sr), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    y = np.frombuffer(proc.stdout, np.float32)
    if proc.returncode != 0 or len(y) == 0:
        raise VocaError(f"video {path} has no readable audio track; give a video with sound "
                        "(or pass the audio separately)")
    return np.clip(y, -1, 1).astype(np.float32)
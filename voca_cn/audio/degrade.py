"""What real recordings do to speech: noise, rooms, narrow bands, codecs, levels, sample rates.

Each function takes (S,) float32 samples (16 kHz unless said) and a numpy Generator where it draws
anything, and returns new samples; the same input and seed give the same output. They serve two
users that must not share conditions: ``benchmarks/robustness.py`` (fixed, named conditions on
held-out clips) and training (:mod:`voca_cn.training.augment`: random conditions from other noise sources,
other rooms and other codecs), so a gain measured by the benchmark is not a gain on its own noises.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np

from voca_cn import VocaError
from voca_cn.core.timing import SR


# ----------------------------------------------------------------------------- additive noise
def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 noise whose power falls as 1 / f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec *= 1.0 / np.maximum(f, 20.0) ** (exponent / 2)
    y = np.fft.irfft(spec, n)
    return (y / (np.sqrt(np.mean(y ** 2)) + 1e-12)).astype(np.float32)


def babble(n: int, voices: list[np.ndarray], talkers: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 crowd of ``talkers`` overlapping voices drawn from ``voices`` (each (S_k,)
    16 kHz, looped from a random point, equal loudness), unit RMS."""
    out = np.zeros(n, np.float32)
    for k in rng.choice(len(voices), talkers, replace=len(voices) < talkers):
        v = voices[k]
        v = v / (np.sqrt(np.mean(v ** 2)) + 1e-9)
        idx = (rng.integers(len(v)) + np.arange(n)) % len(v)
        out += v[idx]
    return out / (np.sqrt(np.mean(out ** 2)) + 1e-12)


def _tone(t: np.ndarray, hz: float, partials: int, bright: float) -> np.ndarray:
    """A harmonic tone: ``partials`` harmonics falling as 1 / k^bright, no partial above 7.9 kHz."""
    return sum(np.sin(2 * np.pi * hz * k * t) / k ** bright for k in range(1, partials + 1) if hz * k < 7900)


def music(n: int, rng: np.random.Generator, percussion: bool = True) -> np.ndarray:
    """(n,) float32 synthetic band: a chord progression of harmonic tones with note envelopes,
    a bass line, and (``percussion``) kick and hi-hat on the beat; tempo, key and timbre drawn
    from ``rng``. Unit RMS."""
    t = np.arange(n) / SR
    beat = 60.0 / rng.uniform(80, 150)
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    partials, bright = int(rng.integers(3, 9)), rng.uniform(0.8, 2.0)
    out = np.zeros(n)
    chords = ((0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16), (2, 5, 9))
    for b, start in enumerate(np.arange(0, n / SR, 2 * beat)):
        a, z = int(start * SR), min(n, int((start + 2 * beat) * SR))
        tt = t[a:z] - start
        env = np.minimum(tt / 0.02, 1) * np.exp(-tt / rng.uniform(0.3, 1.5))
        chord = chords[rng.integers(len(chords))]
        out[a:z] += env * sum(_tone(t[a:z], root * 2 ** (s / 12 + 1), partials, bright) for s in chord)
        out[a:z] += 1.5 * env * np.sin(2 * np.pi * root / 2 * 2 ** (chord[0] / 12) * t[a:z])
    if percussion:
        for start in np.arange(0, n / SR, beat):
            a = int(start * SR)
            tt = np.arange(min(n - a, int(0.25 * SR))) / SR
            out[a:a + len(tt)] += 3 * np.sin(2 * np.pi * (50 + 80 * np.exp(-tt / 0.03)) * tt) * np.exp(-tt / 0.08)
            h = int((start + beat / 2) * SR)
            if h < n:
                m = min(n - h, int(0.05 * SR))
                out[h:h + m] += 0.5 * np.diff(rng.standard_normal(m + 1)) * np.exp(-np.arange(m) / SR / 0.01)
    return (out / (np.sqrt(np.mean(out ** 2)) + 1e-12)).astype(np.float32)


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float, active=None) -> np.ndarray:
    """Speech plus ``noise`` (same length) scaled to ``snr_db`` dB below the speech's power over
    ``active`` samples (a slice or boolean mask of the spoken part; all samples if None)."""
    p_speech = np.mean(speech[slice(None) if active is None else active].astype(np.float64) ** 2)
    p_noise = np.mean(noise.astype(np.float64) ** 2) + 1e-20
    return (speech + noise * np.sqrt(p_speech / p_noise * 10 ** (-snr_db / 10))).astype(np.float32)


# ----------------------------------------------------------------------------- rooms
def room_impulse(dims: tuple[float, float, float], rt60: float, distance: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(K,) float32 impulse response of a shoebox room (metres) with reverberation time ``rt60``
    (s), talker and microphone ``distance`` m apart at random places 1-1.8 m high (image source
    method, pyroomacoustics). Starts at the direct path: the room adds echo, not delay."""
    import pyroomacoustics as pra

    dims = np.asarray(dims, float)
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:
        raise VocaError(f"a {dims.tolist()} m room cannot have RT60 {rt60} s; give a longer RT60") from None
    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=min(order, 40),
                       air_absorption=True)
    for _ in range(100):  # a talker and a microphone ``distance`` apart, both inside, 0.5 m from walls
        src = np.array([rng.uniform(0.5, dims[0] - 0.5), rng.uniform(0.5, dims[1] - 0.5), rng.uniform(1.0, 1.8)])
        ang = rng.uniform(0, 2 * np.pi)
        mic = src + distance * np.array([np.cos(ang), np.sin(ang), 0.0])
        mic[2] = rng.uniform(1.0, 1.8)
        if np.all(mic > 0.5) and np.all(mic < dims - 0.5):
            break
    else:
        raise VocaError(f"a {distance} m talker-microphone distance does not fit a {dims.tolist()} m room")
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], np.float64)
    start = max(0, int(np.argmax(np.abs(rir))) - 8)  # keep the direct path's filter ringing
    return (rir[start:] / np.abs(rir).max()).astype(np.float32)


def reverberate(y: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``y`` through a room ``rir`` (from :func:`room_impulse`), cut to ``y``'s length, at ``y``'s RMS."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(y, rir)[8:8 + len(y)]
    wet = np.pad(wet, (0, len(y) - len(wet)))
    return (wet * np.sqrt(np.mean(y ** 2) / (np.mean(wet ** 2) + 1e-20))).astype(np.float32)


# ----------------------------------------------------------------------------- channels
def band(y: np.ndarray, low: float | None, high: float | None, order: int = 4) -> np.ndarray:
    """``y`` band-limited to [low, high] Hz (Butterworth sections, zero phase: no delay)."""
    from scipy.signal import butter, sosfiltfilt

    if low and high:
        sos = butter(order, [low, high], "bandpass", fs=SR, output="sos")
    elif low:
        sos = butter(order, low, "highpass", fs=SR, output="sos")
    else:
        sos = butter(order, high, "lowpass", fs=SR, output="sos")
    return sosfiltfilt(sos, y).astype(np.float32)


def resample(y: np.ndarray, rate: int, native: int = SR) -> np.ndarray:
    """``y`` at ``native`` Hz -> ``rate`` Hz (soxr, as a recorder or converter would)."""
    import soxr

    return y if rate == native else soxr.resample(y, native, rate, "HQ").astype(np.float32)


def telephone(y: np.ndarray) -> tuple[np.ndarray, int]:
    """A landline call: 300-3400 Hz, 8 kHz, G.711 mu-law. Returns (samples, 8000)."""
    narrow = resample(band(y, 300, 3400), 8000)
    mu = 255.0
    q = np.sign(narrow) * np.log1p(mu * np.minimum(np.abs(narrow), 1)) / np.log1p(mu)
    q = np.round(q * 127) / 127  # 8-bit codes
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu).astype(np.float32), 8000


def codec(y: np.ndarray, name: str, bitrate_k: float, rate: int = SR) -> np.ndarray:
    """``y`` (at ``rate`` Hz) through a lossy codec and back, by ffmpeg: ``mp3`` (LAME), ``opus``
    (libopus) or ``aac`` (ffmpeg's encoder), or a narrowband speech codec at 8 kHz: ``speex``
    (VoIP), ``g726`` (ADPCM, DECT and VoIP trunks) or ``codec2`` (a vocoder for radio, 3.2 or 1.3
    kbit/s), at ``bitrate_k`` kbit/s. Returns (S,) float32 at ``rate``, cut or padded to ``y``'s
    length (ffmpeg drops the encoders' priming samples)."""
    import soundfile as sf

    encoders = {  # name: ffmpeg encoder, container, its rate (None: the input's)
        "mp3": ("libmp3lame", "mp3", None), "opus": ("libopus", "ogg", None), "aac": ("aac", "m4a", None),
        "speex": ("libspeex", "ogg", 8000), "g726": ("g726", "wav", 8000), "codec2": ("libcodec2", "c2", 8000)}
    if name not in encoders:
        raise VocaError(f"unknown codec {name!r}; use one of {', '.join(encoders)}")
    encoder, suffix, coded_rate = encoders[name]
    rate_args = ["-ar", str(coded_rate)] if coded_rate else []
    bits = ["-mode", str(round(bitrate_k * 1000))] if name == "codec2" else ["-b:a", f"{bitrate_k:g}k"]
    with tempfile.TemporaryDirectory() as tmp:
        src, enc = os.path.join(tmp, "in.wav"), os.path.join(tmp, f"enc.{suffix}")
        sf.write(src, y, rate, subtype="FLOAT")
        run = lambda *a: subprocess.run(["ffmpeg", "-v", "error", "-y", *a], check=True, capture_output=True)  # noqa: E731
        run("-i", src, "-c:a", encoder, *bits, *rate_args, enc)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", enc, "-f", "f32le", "-ac", "1", "-ar", str(rate), "-"],
                             check=True, capture_output=True).stdout
    out = np.frombuffer(raw, np.float32)[:len(y)]
    return np.pad(out, (0, len(y) - len(out))).astype(np.float32)


# ----------------------------------------------------------------------------- levels
def peak_db(y: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(y).max() + 1e-12))


def to_peak(y: np.ndarray, db: float) -> np.ndarray:
    """``y`` scaled so its peak |sample| is ``db`` dBFS."""
    return (y * 10 ** ((db - peak_db(y)) / 20)).astype(np.float32)


def clipped(y: np.ndarray, gain_db: float) -> np.ndarray:
    """``y`` amplified by ``gain_db`` into a hard clip at full scale (an overdriven input)."""
    return np.clip(y * 10 ** (gain_db / 20), -1, 1).astype(np.float32)

"""Multi-condition training audio: each training item also heard as a random real recording.

:func:`degrade_randomly` puts (S,) float32 16 kHz speech through a random chain of what rooms,
microphones, calls and files do (:mod:`voca_cn.audio.degrade`'s primitives), keeping it sample-aligned
with the clean item (rooms start at the direct path, filters are zero-phase, pedalboard's codecs
report their latency), so the item's phone timings and lip curves stay its targets. The sources
are kept apart from ``benchmarks/robustness.py``'s: babble from the corpus's synthetic *training*
voices (the benchmark uses Kathleen's held-out prompts), noise of any spectral slope from -1 to 2.5
(not only white/pink/brown), random rooms from their own seed, MP3 and GSM through pedalboard (the
benchmark uses ffmpeg's MP3, Opus and AAC), random band limits and levels.
"""

from __future__ import annotations

import numpy as np

from voca_cn import VocaError
from voca_cn.audio import degrade
from voca_cn.core.timing import SR


class Sources:
    """What the chain draws from: babble voices (list of (S_k,) float32) and a bank of room
    impulse responses made once from ``seed`` (rooms 3-20 m, RT60 0.15-1.3 s, 0.3-5 m away)."""

    def __init__(self, voices: list[np.ndarray], rooms: int = 24, seed: int = 0):
        rng = np.random.default_rng([seed, 77])
        self.voices, self.rirs = voices, []
        while len(self.rirs) < rooms:
            dims = (rng.uniform(3, 20), rng.uniform(3, 20), rng.uniform(2.4, 6))
            dist = min(rng.uniform(0.3, 5.0), 0.5 * min(dims[:2]) - 0.6)
            try:
                self.rirs.append(degrade.room_impulse(dims, rng.uniform(0.15, 1.3), dist, rng))
            except VocaError:  # a big room with a short RT60 does not exist: draw another
                continue


def degrade_randomly(y: np.ndarray, rng: np.random.Generator, sources: Sources) -> np.ndarray:
    """(S,) float32 16 kHz -> (S,) float32: a random recording of the same speech, aligned."""
    from pedalboard import GSMFullRateCompressor, MP3Compressor

    n = len(y)
    y = y.astype(np.float32)
    if rng.random() < 0.35:
        y = degrade.reverberate(y, sources.rirs[rng.integers(len(sources.rirs))])
    if rng.random() < 0.7:
        kind = rng.choice(["colored", "babble", "music", "hum"], p=[0.35, 0.35, 0.2, 0.1])
        if kind == "colored":
            noise = degrade.colored_noise(n, rng.uniform(-1.0, 2.5), rng)
        elif kind == "babble":
            noise = degrade.babble(n, sources.voices, int(rng.integers(1, 9)), rng)
        elif kind == "music":
            noise = degrade.music(n, rng, percussion=bool(rng.random() < 0.5))
        else:  # mains hum and its harmonics, with a little hiss
            t = np.arange(n) / SR
            f0 = rng.choice([50.0, 60.0])
            noise = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
            noise = (noise + 0.1 * degrade.colored_noise(n, 0.0, rng)).astype(np.float32)
        y = degrade.add_noise(y, noise, rng.uniform(-3.0, 25.0), _spoken(y))
    if rng.random() < 0.3:
        if rng.random() < 0.4:
            rate = int(rng.choice([8000, 11025, 12000]))
            y = degrade.resample(degrade.resample(y, rate), SR, rate)[:n]
        else:
            y = degrade.band(y, rng.uniform(80, 500) if rng.random() < 0.7 else None, rng.uniform(2500, 7000), 2)
    y = degrade.to_peak(y, rng.uniform(-40.0, -0.5))
    if rng.random() < 0.2:
        codec = MP3Compressor(vbr_quality=float(rng.uniform(5, 9.5))) if rng.random() < 0.6 else GSMFullRateCompressor()
        y = codec(y[None], SR)[0][:n]
    if rng.random() < 0.08:
        y = degrade.clipped(y, rng.uniform(3, 15))
    if rng.random() < 0.08:
        y = y + rng.uniform(-0.3, 0.3)
    return np.clip(np.pad(y, (0, n - len(y))), -1, 1).astype(np.float32)


def recordings(clips: list[np.ndarray], copies: int, seed: int, babble_every: int):
    """Per clip (in order, lazily): [the clip as recorded, then ``copies`` random degraded
    recordings of it], all drawn from ``seed``; babble from every ``babble_every``-th clip, 12 rooms.
    The validation calibrations' recordings."""
    rng = np.random.default_rng(seed)
    sources = Sources(clips[::babble_every], rooms=12, seed=seed)
    for y in clips:
        yield [y] + [degrade_randomly(y, rng, sources) for _ in range(copies)]


def _spoken(y: np.ndarray) -> np.ndarray:
    """Boolean mask of samples in 10 ms blocks within 30 dB of the loudest block (where speech
    is, for the SNR)."""
    blocks = np.pad(y, (0, -len(y) % 160)).reshape(-1, 160)
    db = 10 * np.log10(np.mean(blocks ** 2, axis=1) + 1e-12)
    return np.repeat(db > db.max() - 30, 160)[:len(y)]

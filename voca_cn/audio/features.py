"""Acoustic features and frame targets for the phonetic stage.

Log-mel spectra: 25 ms Hann windows with each window's mean removed first (a DC offset or hum
below 60 Hz leaks through the window into the low bands otherwise), 10 ms hop (100 frames/s),
40 mel bands from 60 Hz to 7.6 kHz, natural log of power. Frame i is centred at i * 10 ms, so
frame times line up with phone timings without an offset. :class:`Leveller` then brings quiet and
loud recordings into the level range the model was trained on, causally (a stream gets the same);
:class:`NoiseFloor` subtracts each band's tracked noise floor for a model trained with that front end.
"""

from __future__ import annotations

import numpy as np

from voca_cn.core.phones import AZURE, PHONE_INDEX, PHONES
from voca_cn.core.timing import SR

HOP = 160  # samples: 10 ms at 16 kHz
WIN = 400  # samples: 25 ms
N_FFT = 512
N_MELS = 40
FRAME_RATE = SR // HOP  # 100 frames/s


def _mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int = N_MELS, fmin: float = 60.0, fmax: float = 7600.0) -> np.ndarray:
    """(n_mels, N_FFT // 2 + 1) triangular HTK-mel filters."""
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SR)
    edges = _hz(np.linspace(_mel(fmin), _mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid))).astype(np.float32)


_FILTERS = mel_filterbank()
_WINDOW = np.hanning(WIN).astype(np.float32)
_BINS = slice(*(np.flatnonzero(_FILTERS.any(0))[[0, -1]] + [0, 1]))  # the FFT bins some filter reads
_FILTERS_T = np.ascontiguousarray(_FILTERS[:, _BINS].T)  # (bins, 40)


def n_feature_frames(n_samples: int) -> int:
    """Feature frames for ``n_samples`` of 16 kHz audio (one per started 10 ms)."""
    return max(1, -(-n_samples // HOP))


def log_mel(audio: np.ndarray, block: int = 6000) -> np.ndarray:
    """(S,) float32 at 16 kHz -> (F, 40) float32 log-mel, F = ceil(S / 160), 100 frames/s.

    Computed ``block`` frames at a time, so an hour of audio needs ~60 MB beyond its output."""
    n = n_feature_frames(len(audio))
    out = np.empty((n, N_MELS), np.float32)
    for s in range(0, n, block):
        out[s:s + block] = log_mel_rows(audio, s, min(s + block, n))
    return out


def log_mel_rows(audio: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows [a, b) of ``log_mel(audio)`` -> (b - a, 40) float32, computed from those rows' audio
    alone (frame i covers samples [i * 160 - 200, i * 160 + 200), zeros outside the signal), so a
    network can read hours of features chunk by chunk."""
    lo, hi = a * HOP - WIN // 2, (b - 1) * HOP + WIN // 2
    chunk = np.zeros(hi - lo, np.float32)
    s, e = max(lo, 0), min(hi, len(audio))
    if e > s:
        chunk[s - lo:e - lo] = audio[s:e]
    return mel_frames(chunk)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """(m * 160 + 240,) float32 samples, padded as in :func:`log_mel` -> (m, 40) log-mel of the
    m windows starting every 160 samples (a stream calls this on what it has)."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, WIN)[::HOP]
    padded = np.zeros((len(frames), N_FFT), np.float32)  # windows written straight into the FFT's input
    np.subtract(frames, frames.mean(axis=1, keepdims=True), out=padded[:, :WIN])
    padded[:, :WIN] *= _WINDOW
    spectrum = np.fft.rfft(padded)[:, _BINS]
    return np.log((spectrum.real ** 2 + spectrum.imag ** 2) @ _FILTERS_T + 1e-8)


# Level normalisation, in log-mel units (natural log of power; 1 unit = 4.3 dB). The level is the
# loudest recent frame's total mel power: it follows a louder frame at once and falls back by
# LEVEL_DECAY per second (slowly, so a pause between words is not taken for a quiet recording).
# Corpus speech peaks at 5-9.5 (Kathleen ~5.5, TTS ~8, GRID ~9.4); a level below LEVEL_LOW is
# raised to it (by at most MAX_BOOST), one above LEVEL_HIGH lowered to it; between, nothing changes.
# A recording starts at LEVEL_LOW (taken as normal until it shows otherwise), so the silence
# before the first word is not raised. Chosen on grid-s1 val clips against starting from the
# first frame's level: clean aperture r 0.757 vs 0.743, a take 30 dB too quiet 0.629 vs 0.711.
LEVEL_LOW, LEVEL_HIGH = 5.0, 10.0
MAX_BOOST = 4.0  # 17 dB
LEVEL_DECAY = 1.5  # per second (6.5 dB/s)


class Leveller:
    """Causal level normalisation of log-mel frames. ``leveller(mel)`` takes the next (k, 40)
    raw log-mel frames of one recording and returns the (k,) offset to add to each (log units:
    a gain), carrying the tracked level across calls, so any split of a recording into calls
    gives the same offsets."""

    def __init__(self):
        self.level = LEVEL_LOW  # nothing heard yet: a normal level

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        energy = np.empty(len(mel))
        for i in range(0, len(mel), 65536):  # a chunk at a time: no float64 copies of hours of frames
            power = mel[i:i + 65536].astype(np.float64)
            top = power.max(axis=1, keepdims=True)
            energy[i:i + 65536] = (top + np.log(np.exp(power - top).sum(axis=1, keepdims=True)))[:, 0]
        decay = LEVEL_DECAY / FRAME_RATE
        k = np.arange(len(mel))
        # level_i = max(level_before - decay (i + 1), max over j <= i of energy_j - decay (i - j))
        level = np.maximum(self.level - decay * (k + 1), np.maximum.accumulate(energy + decay * k) - decay * k)
        if len(mel):
            self.level = float(level[-1])
        offset = np.where(level < LEVEL_LOW, np.minimum(LEVEL_LOW - level, MAX_BOOST),
                          np.where(level > LEVEL_HIGH, LEVEL_HIGH - level, 0.0))
        return offset.astype(np.float32)


# Noise-floor subtraction, a front end a model may be trained with (its phonetic.json then says
# "front_end": "noise-floor"; tried for the robust model, not shipped: README "Real recordings").
# Each band's floor is tracked causally, as the minimum of its smoothed power that may rise by
# FLOOR_RISE per frame (1 log unit = 4.3 dB per second: a floor follows a steady noise that grows,
# while a second of speech barely lifts it), and FLOOR_OVER times that power is subtracted from the
# band (over-subtraction: a minimum sits below the noise's mean), no band losing more than
# FLOOR_GAIN_MIN. Hiss, hum, fans and road noise then leave little of themselves in the features;
# the network (trained on it) still hears what is left. Power smoothing: FLOOR_SMOOTH per frame (30 ms).
FLOOR_SMOOTH = 0.7
FLOOR_RISE = 0.01  # log units per frame
FLOOR_OVER = 2.0
FLOOR_GAIN_MIN = 0.1  # -10 dB


class NoiseFloor:
    """Causal per-band noise-floor subtraction of levelled log-mel frames. ``floor(mel)`` takes the
    next (k, 40) frames of one recording and returns them (k, 40) float32 with each band's tracked
    floor subtracted in power, carrying the floor across calls, so any split of a recording into
    calls gives the same frames (float precision)."""

    def __init__(self):
        self.power = None  # (40,) smoothed power of the last frame seen
        self.floor = None  # (40,) log floor at the last frame seen

    def __call__(self, mel: np.ndarray) -> np.ndarray:
        out = np.empty(mel.shape, np.float32)
        for i in range(0, len(mel), 65536):  # a chunk at a time: no float64 copies of hours of frames
            out[i:i + 65536] = self._step(mel[i:i + 65536])
        return out

    def _step(self, mel: np.ndarray) -> np.ndarray:
        from scipy.signal import lfilter

        power = np.exp(mel.astype(np.float64))
        start = power[0] if self.power is None else self.power
        smooth, _ = lfilter([1 - FLOOR_SMOOTH], [1, -FLOOR_SMOOTH], power, axis=0, zi=FLOOR_SMOOTH * start[None])
        rise = FLOOR_RISE * np.arange(len(mel))[:, None]
        # floor_i = min(floor_before + rise (i + 1), min over j <= i of log smooth_j + rise (i - j))
        floor = np.minimum.accumulate(np.log(smooth) - rise, axis=0) + rise
        if self.floor is not None:
            floor = np.minimum(floor, self.floor + rise + FLOOR_RISE)
        self.power, self.floor = smooth[-1], floor[-1]
        gain = np.maximum(1.0 - FLOOR_OVER * np.exp(floor - mel), FLOOR_GAIN_MIN)
        return mel + np.log(gain)


FRONT_ENDS = ("level", "noise-floor")  # what a model's features get before normalisation (phonetic.json)


def levelled(mel: np.ndarray, front_end: str = "level") -> np.ndarray:
    """(F, 40) raw log-mel of one whole recording -> (F, 40) float32 what the phonetic stage reads
    (before its mean/std normalisation): :class:`Leveller`'s offsets added, then for the
    "noise-floor" front end :class:`NoiseFloor`."""
    mel = mel + Leveller()(mel)[:, None]
    return NoiseFloor()(mel) if front_end == "noise-floor" else mel


def levelled_log_mel(audio: np.ndarray) -> np.ndarray:
    """(S,) float32 at 16 kHz -> (F, 40) float32 :func:`levelled` log-mel (the "level" front end)."""
    return levelled(log_mel(audio))


def frame_labels(labels, starts, ends, n_frames: int) -> np.ndarray:
    """(n_frames,) int32 inventory index of the phone at each frame centre (silence elsewhere)."""
    out = np.full(n_frames, PHONE_INDEX["sil"], np.int32)
    if not len(labels):
        return out
    t = np.arange(n_frames) / FRAME_RATE
    idx = np.searchsorted(np.asarray(ends), t, side="right")
    inside = idx < len(labels)
    idx = np.minimum(idx, len(labels) - 1)
    ok = inside & (np.asarray(starts)[idx] <= t)
    out[ok] = [PHONE_INDEX[str(labels[i])] for i in idx[ok]]
    return out


def segment_labels(segments, n_frames: int) -> np.ndarray:
    """:func:`frame_labels` of phone segments (anything with ``label``, ``start``, ``end`` in s)."""
    return frame_labels([s.label for s in segments], [s.start for s in segments], [s.end for s in segments], n_frames)


VISEME_OF_PHONE = np.array([AZURE[p] for p in PHONES], np.int32)  # (P,) Azure id per class


def viseme_probabilities(phone_probs: np.ndarray) -> np.ndarray:
    """(F, P) phone probabilities -> (F, 22) Azure viseme probabilities (summed by class)."""
    out = np.zeros((len(phone_probs), 22), np.float32)
    np.add.at(out.T, VISEME_OF_PHONE, phone_probs.T)
    return out

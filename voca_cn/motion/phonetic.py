"""The phonetic stage (the role DeepSpeech plays in VOCA): log-mel frames -> per-frame phone
probabilities over the inventory, 100 frames/s.

Causal with a bounded look-ahead: output frame t is decided from audio up to t + ``lookahead``
frames (40 ms in the default config), so the stage can stream. Trained in Keras (:func:`build`),
run without it (:mod:`voca_cn.motion.onnx`): long audio in pieces with the network's state carried,
so a file gives the frames a stream does.
"""

from __future__ import annotations

import copy
import os

import numpy as np

from voca_cn import VocaError
from voca_cn.audio.features import FRONT_ENDS, N_MELS, Leveller, NoiseFloor, log_mel, log_mel_rows, n_feature_frames
from voca_cn.core.phones import PHONES
from voca_cn.motion import onnx as runtime

CHUNK = 3000  # frames (30 s) per piece of log-mel made for long audio
ONE_PASS = 2 * 3600 * 100  # frames (2 h) up to which the log-mel is made in one piece
CHECKPOINT = 1000  # frames between saved NoiseFloor states (any row range is made from <= 10 s before it)


class PhoneticStage:
    """A trained phonetic network (run-time graph) with its feature normalisation.

    ``PhoneticStage.load()`` reads the shipped model; ``stage(audio)`` gives (F, P) probabilities,
    F = ceil(S / 160) frames at 100/s, row t describing the audio around t * 10 ms. ``floor``:
    the features get :class:`voca_cn.audio.features.NoiseFloor` after levelling (the model's
    ``front_end`` is "noise-floor").
    """

    def __init__(self, net, mean: np.ndarray, std: np.ndarray, lookahead: int, floor: bool = False):
        self.net, self.mean, self.std, self.lookahead, self.floor = net, mean, std, lookahead, floor

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None, threads: int = 0) -> "PhoneticStage":
        net = runtime.load(directory, "phonetic", threads)
        meta = net.meta
        if meta.get("classes") != list(PHONES):
            raise VocaError(f"the phonetic model in {directory or runtime.MODELS} was trained on another "
                            "phone inventory; retrain it with voca-cn train")
        try:
            mean, std = (np.array(meta[k], np.float32) for k in ("mean", "std"))
        except (KeyError, TypeError, ValueError):
            mean = std = np.zeros(0, np.float32)
        if mean.shape != (N_MELS,) or std.shape != (N_MELS,) or not np.isfinite([mean, std]).all() \
                or (std <= 0).any():
            raise VocaError(f"the phonetic model in {directory or runtime.MODELS} is damaged (feature "
                            "normalisation missing or not finite); retrain it with voca-cn train")
        runtime.check_shape(net, N_MELS, len(PHONES), "phonetic", directory)
        front = meta.get("front_end", "level")
        if front not in FRONT_ENDS:
            raise VocaError(f"the phonetic model in {directory or runtime.MODELS} wants the front end {front!r}, "
                            f"which this version lacks (it has {', '.join(FRONT_ENDS)}); update voca_cn")
        return cls(net, mean, std, meta["lookahead"], front == "noise-floor")

    def normalise(self, mel: np.ndarray) -> np.ndarray:
        return ((mel - self.mean) / self.std).astype(np.float32)

    def tail(self) -> np.ndarray:
        """(lookahead, 40) normalised frames fed after the last real one: zeros (the mean)."""
        return np.zeros((self.lookahead, N_MELS), np.float32)

    def logits(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel of one recording -> (F, P) logits, aligned to the input frames."""
        offset = Leveller()(mel)
        return self.net.offline(self._inputs(len(mel), lambda a, b: mel[a:b] + offset[a:b, None]))[self.lookahead:]

    def probabilities(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel -> (F, P) float32 phone probabilities."""
        return softmax(self.logits(mel), inplace=True)

    def __call__(self, audio: np.ndarray, mel: np.ndarray | None = None) -> np.ndarray:
        """(S,) float32 16 kHz audio -> (F, P) float32 phone probabilities, 100 frames/s.

        The log-mel frames are made chunk by chunk as the network reads them, so hours of audio
        need no (F, 40) feature copies next to the audio and the (F, P) result: up to
        :data:`ONE_PASS` frames the log-mel is made once (at most 115 MB; ``mel``: the one
        :func:`one_pass_mel` made already, for a second stage), longer audio is read twice (first
        for the level offsets, (F,))."""
        mel = one_pass_mel(audio) if mel is None else mel
        if mel is not None:
            return self.probabilities(mel)
        n, leveller = n_feature_frames(len(audio)), Leveller()
        offset = np.concatenate([leveller(log_mel_rows(audio, a, min(a + CHUNK, n))) for a in range(0, n, CHUNK)])
        x = self._inputs(n, lambda a, b: log_mel_rows(audio, a, b) + offset[a:b, None])
        return softmax(self.net.offline(x)[self.lookahead:], inplace=True)

    def _inputs(self, n: int, mel_rows) -> "Rows":
        """The network's input: levelled log-mel rows ``mel_rows(a, b)`` of n frames (through
        :class:`NoiseFloor` where the model has it), normalised, then :meth:`tail` (what the
        look-ahead reads past the end)."""
        if self.floor:
            mel_rows = floored(n, mel_rows)

        def rows(a: int, b: int) -> np.ndarray:
            out = np.zeros((b - a, N_MELS), np.float32)  # rows past n: the tail's zeros
            if min(b, n) > a:
                out[:min(b, n) - a] = self.normalise(mel_rows(a, min(b, n)))
            return out

        return Rows(n + self.lookahead, N_MELS, rows)


def floored(n: int, mel_rows):
    """``mel_rows(a, b)`` (rows of n levelled log-mel frames) -> the same rows through one
    :class:`NoiseFloor` run over the whole recording, made on demand: one pass saves the floor's
    state every :data:`CHECKPOINT` frames, so any range is made from its nearest checkpoint."""
    states, floor = [], NoiseFloor()
    for a in range(0, n, CHECKPOINT):
        states.append(copy.copy(floor))  # its state is replaced, never changed in place, by each call
        floor(mel_rows(a, min(a + CHECKPOINT, n)))

    def rows(a: int, b: int) -> np.ndarray:
        c = a // CHECKPOINT * CHECKPOINT
        return copy.copy(states[a // CHECKPOINT])(mel_rows(c, b))[a - c:]

    return rows


def one_pass_mel(audio: np.ndarray) -> np.ndarray | None:
    """(S,) float32 16 kHz -> its (F, 40) raw log-mel made in one piece, or None where F is over
    :data:`ONE_PASS` (the stage then makes it chunk by chunk)."""
    return log_mel(audio) if n_feature_frames(len(audio)) <= ONE_PASS else None


class Rows:
    """A (n, d) float32 sequence made on demand, as :meth:`voca_cn.motion.onnx.Network.offline` reads
    it: ``rows(a, b)`` gives rows [a, b) for a < b <= n. Hours of network input then never exist
    as one copy."""

    def __init__(self, n: int, d: int, rows):
        self.shape, self.rows = (n, d), rows

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, sl: slice) -> np.ndarray:
        a, b, _ = sl.indices(len(self))
        return self.rows(a, b) if b > a else np.zeros((0, self.shape[1]), np.float32)


def softmax(z: np.ndarray, inplace: bool = False) -> np.ndarray:
    """(F, P) logits -> (F, P) float32 probabilities (row by row: a stream gets the same).
    ``inplace``: overwrite float32 ``z`` (hours of logits are hundreds of MB a copy)."""
    if not inplace or z.dtype != np.float32:
        z = np.array(z, np.float32)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z

"""The phonetic stage (the role DeepSpeech plays in VOCA): log-mel frames -> per-frame phone
probabilities over the inventory, 100 frames/s.

Causal with a bounded look-ahead: output frame t is decided from audio up to t + ``lookahead``
frames (40 ms in the default config), so the stage can stream. Trained in Keras (:func:`build`),
run without it (:mod:`voca_cn.runtime`): long audio in chunks that overlap by a warm-up the network
has forgotten by the time it matters, batched for speed.
"""

from __future__ import annotations

import os

import numpy as np

from voca_cn import VocaError
from voca_cn.features import N_MELS, log_mel
from voca_cn.phones import PHONES

CHUNK = 3000  # frames (30 s) per inference chunk
WARMUP = 300  # frames (3 s) of left context each chunk re-reads and drops


def build(width: int = 128, lookahead: int = 6, n_classes: int = len(PHONES)):
    """Conv1D x2 (causal) -> GRU -> Dense logits. Input (batch, F, 40) normalised log-mel;
    output (batch, F, n_classes) logits where output t describes frame t - lookahead."""
    import keras
    from keras import layers

    x = keras.Input((None, N_MELS), name="log_mel")
    h = layers.Conv1D(width, 5, padding="causal", activation="relu")(x)
    h = layers.Conv1D(width, 5, padding="causal", dilation_rate=2, activation="relu")(h)
    h = layers.GRU(width, return_sequences=True)(h)
    logits = layers.Dense(n_classes, name="phone_logits")(h)
    return keras.Model(x, logits, name="phonetic")


class PhoneticStage:
    """A trained phonetic network (run-time graph) with its feature normalisation.

    ``PhoneticStage.load()`` reads the shipped model; ``stage(audio)`` gives (F, P) probabilities,
    F = ceil(S / 160) frames at 100/s, row t describing the audio around t * 10 ms.
    """

    def __init__(self, net, mean: np.ndarray, std: np.ndarray, lookahead: int):
        self.net, self.mean, self.std, self.lookahead = net, mean, std, lookahead

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None, threads: int = 0) -> "PhoneticStage":
        from voca_cn import runtime

        net = runtime.load(directory, "phonetic", threads)
        meta = net.meta
        if meta["classes"] != list(PHONES):
            raise VocaError(f"the phonetic model in {directory or runtime.MODELS} was trained on another "
                            "phone inventory; retrain it with voca-cn train")
        return cls(net, np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32),
                   int(meta["lookahead"]))

    def normalise(self, mel: np.ndarray) -> np.ndarray:
        return ((mel - self.mean) / self.std).astype(np.float32)

    def tail(self) -> np.ndarray:
        """(lookahead, 40) normalised frames fed after the last real one: zeros (the mean)."""
        return np.zeros((self.lookahead, N_MELS), np.float32)

    def logits(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel -> (F, P) logits, aligned to the input frames."""
        x = np.concatenate([self.normalise(mel), self.tail()])
        return self.net.offline(x, CHUNK, WARMUP)[self.lookahead:]

    def probabilities(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel -> (F, P) float32 phone probabilities."""
        return softmax(self.logits(mel))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(S,) float32 16 kHz audio -> (F, P) float32 phone probabilities, 100 frames/s."""
        return self.probabilities(log_mel(audio))


def softmax(z: np.ndarray) -> np.ndarray:
    """(F, P) logits -> (F, P) float32 probabilities (row by row: a stream gets the same)."""
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)

"""The phonetic stage (the role DeepSpeech plays in VOCA): log-mel frames -> per-frame phone
probabilities over the inventory, 100 frames/s.

Causal with a bounded look-ahead: output frame t is decided from audio up to t + ``lookahead``
frames (60 ms by default), so the stage can stream. Long audio runs in chunks that overlap by a
warm-up the network has forgotten by the time it matters, batched for speed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.features import N_MELS, log_mel_rows, n_feature_frames
from voca_cn.phones import PHONES

MODELS = Path(__file__).resolve().parent / "models"
CHUNK = 3000  # frames (30 s) per inference chunk
WARMUP = 300  # frames (3 s) of left context each chunk re-reads and drops
# chunks per network call: 16 was ~30 % faster on long audio than 4, but its activations
# (~200 MB held by TensorFlow's allocator) kept a 2-hour file above 1.5 GB peak
BATCH = 4


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
    """A trained phonetic network with its feature normalisation.

    ``PhoneticStage.load()`` reads the shipped model; ``stage(audio)`` gives (F, P) probabilities.
    """

    def __init__(self, model, mean: np.ndarray, std: np.ndarray, lookahead: int):
        self.model, self.mean, self.std, self.lookahead = model, mean, std, lookahead
        self._run = compiled(model)

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None) -> "PhoneticStage":
        model, meta = load_network(directory, "phonetic")
        if meta.get("classes") != list(PHONES):
            raise VocaError(f"the phonetic model in {directory or MODELS} was trained on another "
                            "phone inventory; retrain it with voca-cn train")
        try:
            mean, std = (np.array(meta[k], np.float32) for k in ("mean", "std"))
        except (KeyError, TypeError, ValueError):
            mean = std = np.zeros(0, np.float32)
        if mean.shape != (N_MELS,) or std.shape != (N_MELS,) or not np.isfinite([mean, std]).all() \
                or (std <= 0).any():
            raise VocaError(f"the phonetic model in {directory or MODELS} is damaged (feature "
                            "normalisation missing or not finite); retrain it with voca-cn train")
        return cls(model, mean, std, meta["lookahead"])

    def normalise(self, mel: np.ndarray) -> np.ndarray:
        return (mel - self.mean) / self.std

    def logits(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel -> (F, P) logits, aligned to the input frames."""
        return run_chunked(self._run, _inputs(self, len(mel), lambda a, b: mel[a:b]), batch=BATCH)[self.lookahead:]

    def probabilities(self, mel: np.ndarray) -> np.ndarray:
        """(F, 40) raw log-mel -> (F, P) float32 phone probabilities."""
        return _softmax(self.logits(mel))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(S,) float32 16 kHz audio -> (F, P) float32 phone probabilities, 100 frames/s.

        The log-mel frames are made chunk by chunk as the network reads them, so hours of audio
        need no (F, 40) feature copies next to the audio and the (F, P) result."""
        inputs = _inputs(self, n_feature_frames(len(audio)), lambda a, b: log_mel_rows(audio, a, b))
        return _softmax(run_chunked(self._run, inputs, batch=BATCH)[self.lookahead:])


class Rows:
    """A (n, d) float32 sequence made on demand, as :func:`run_chunked` reads it: ``rows(a, b)``
    gives rows [a, b) for a < b <= n. Hours of network input then never exist as one copy."""

    def __init__(self, n: int, d: int, rows):
        self.shape, self.rows = (n, d), rows

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, sl: slice) -> np.ndarray:
        a, b, _ = sl.indices(len(self))
        return self.rows(a, b) if b > a else np.zeros((0, self.shape[1]), np.float32)


def _inputs(stage: PhoneticStage, n: int, mel_rows) -> Rows:
    """The phonetic network's input: raw log-mel rows ``mel_rows(a, b)`` of n frames, normalised,
    then ``lookahead`` zero frames (what the look-ahead reads past the end)."""

    def rows(a: int, b: int) -> np.ndarray:
        out = np.zeros((b - a, N_MELS), np.float32)
        if min(b, n) > a:
            out[:min(b, n) - a] = stage.normalise(mel_rows(a, min(b, n)))
        return out

    return Rows(n + stage.lookahead, N_MELS, rows)


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row softmax of (F, P) logits, in place: for hours of audio each copy is hundreds of MB."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def load_network(directory: str | os.PathLike | None, name: str):
    """(Keras model, metadata dict) of network ``name`` in a model folder (default: shipped)."""
    import keras

    directory = Path(directory or MODELS)
    meta_path = directory / f"{name}.json"
    if not meta_path.is_file():
        raise VocaError(f"no {name} model in {directory}; give a folder from voca-cn train "
                        "(or leave out --model for the shipped one)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["lookahead"] = int(meta["lookahead"])
        if not 0 <= meta["lookahead"] <= 1000:
            raise ValueError(f"look-ahead {meta['lookahead']} frames")
        model = keras.saving.load_model(directory / f"{name}.keras", compile=False)
    except Exception as e:  # noqa: BLE001 - Keras reports a damaged file with many exception types
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise VocaError(f"the {name} model in {directory} is damaged ({reason}); retrain it with "
                        "voca-cn train or leave out --model for the shipped one") from None
    return model, meta


def compiled(model):
    """The model as one traced TensorFlow graph for any batch and length (an eager call runs
    the recurrent layers step by step in Python, ~100x slower)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                     input_signature=[tf.TensorSpec([None, None, model.input_shape[-1]], tf.float32)])
    return lambda x: fn(tf.constant(x)).numpy()


def run_chunked(model, x: np.ndarray, chunk: int = CHUNK, warmup: int = WARMUP,
                batch: int = 16) -> np.ndarray:
    """Apply a causal sequence model (a :func:`compiled` one) to (F, D) input in overlapping chunks; (F, K) out.

    Each chunk re-reads ``warmup`` frames before it and drops their outputs, so memory stays
    bounded for any length and chunk seams match a whole-sequence run to float precision."""
    n = len(x)
    starts = list(range(0, n, chunk))
    out = None
    for b in range(0, len(starts), batch):
        group = starts[b:b + batch]
        # as long as the longest window: a short line is not padded out to a full chunk + warm-up
        length = max(min(s + chunk, n) - max(0, s - warmup) for s in group)
        windows = np.zeros((len(group), length, x.shape[1]), np.float32)
        for i, s in enumerate(group):  # left-aligned: a causal model ignores the zeros after
            piece = x[max(0, s - warmup):min(s + chunk, n)]
            windows[i, :len(piece)] = piece
        y = model(windows)
        if out is None:
            out = np.zeros((n, y.shape[-1]), np.float32)
        for i, s in enumerate(group):
            skip, m = s - max(0, s - warmup), min(chunk, n - s)
            out[s:s + m] = y[i, skip:skip + m]
    return out

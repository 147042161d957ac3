"""The lip-sync network (the design card's shape) and its vertex loss.

Phone probabilities resampled to 60 fps -> Conv1D x2 -> LSTM x2 -> Dense(tanh) -> Dense(52,
linear) = ARKit weights w(t). A template's blendshape basis B is the linear vertex decoder:
offsets d(t) = B w(t). Because the decoder is linear, the vertex loss needs no vertices at run
time: for an error e = w_pred - w_ref, sum_v a_v |B_v e|^2 = e^T G e with the Gram matrix
G = sum_v a_v B_v^T B_v (52 x 52), averaged over the training templates. So the loss is exactly
the (lip- and jaw-weighted) mean squared vertex error in mm^2, position + velocity, over several
heads at once, and costs a 52 x 52 product per frame.

At run time the lips are also closed wherever the phonetic stage hears p, b or m (the procedural
animator's closure rule): a network trained on a mean-squared loss rounds closures off.
"""

from __future__ import annotations

import os

import numpy as np

from voca_cn import VocaError
from voca_cn.animator import FPS, close_bilabials
from voca_cn.audio import SR
from voca_cn.export import resample_frames
from voca_cn.features import FRAME_RATE
from voca_cn.phonetic import PhoneticStage, Rows, compiled, load_network, run_chunked
from voca_cn.phones import PHONES
LIP, JAW, FACE = 1.0, 0.5, 0.05  # vertex weights of the loss by region
# p/b/m probability above which the lips are closed, chosen on the val split: 0.3 gave bilabial
# recall 0.90 at LVE 1.98 mm and 0.5 gave 0.84 at 1.91 mm (shipped model at 0.3: 0.91, 1.94 mm)
BILABIAL_THRESHOLD = 0.3
APERTURE = 0.25  # weight of the inner-lip gap's squared error next to the mean lip vertex's (see gram)


def build(conv: int = 64, lstm: int = 64, layers_: int = 2, dense: int = 64, n_in: int = len(PHONES)):
    """(batch, T, n_in) phone probabilities at 60 fps -> (batch, T, 52) ARKit weights, causal:
    output t describes frame t - lookahead (the look-ahead is in how it is trained and run)."""
    import keras
    from keras import layers

    x = keras.Input((None, n_in), name="phone_probs_60fps")
    h = layers.Conv1D(conv, 3, padding="causal", activation="relu")(x)
    h = layers.Conv1D(conv, 3, padding="causal", activation="relu")(h)
    for _ in range(layers_):
        h = layers.LSTM(lstm, return_sequences=True)(h)
    h = layers.Dense(dense, activation="tanh")(h)
    w = layers.Dense(52, name="arkit_weights")(h)
    return keras.Model(x, w, name="lipsync")


def gram(templates) -> np.ndarray:
    """(52, 52) loss metric: region-weighted mean over vertices of B_v^T B_v in mm^2 plus the
    lip aperture's term, averaged over ``templates``, plus a faint identity so shapes no vertex
    sees stay put."""
    out = np.zeros((52, 52))
    for t in templates:
        a = np.where(t.vertex_parts == 0, FACE, 0.0)  # skin only: eyes, teeth follow rigidly
        a[t.jaw_vertices] = JAW
        a[t.lip_vertices] = LIP
        b = t.basis.reshape(52, -1, 3) * 1000.0  # mm
        out += np.einsum("v,ivk,jvk->ij", a, b, b) / a.sum()
        # the lip aperture (upper minus lower inner-lip landmark) is what a viewer reads first:
        # its squared error is added with weight APERTURE (it moves ~4x more than the mean lip vertex)
        up, lo = t.inner_lip[0]
        d = b[:, up] - b[:, lo]  # (52, 3)
        out += APERTURE * d @ d.T
    out /= len(templates)
    return (out + 1e-3 * np.trace(out) / 52 * np.eye(52)).astype(np.float32)


def vertex_loss(g: np.ndarray, velocity: float = 0.5):
    """Keras loss: mean e^T G e (position) + ``velocity`` * mean de^T G de (per-frame change)."""
    from keras import ops

    g = ops.convert_to_tensor(g)

    def loss(y_true, y_pred):
        e = y_pred - y_true
        de = e[:, 1:] - e[:, :-1]
        pos = ops.mean(ops.sum(ops.matmul(e, g) * e, axis=-1))
        vel = ops.mean(ops.sum(ops.matmul(de, g) * de, axis=-1))
        return pos + velocity * vel

    return loss


class LipSync:
    """A trained lip-sync network. ``LipSync.load()`` reads the shipped one;
    ``net(probs_60fps)`` gives (T, 52) ARKit weights."""

    def __init__(self, model, lookahead: int):
        self.model, self.lookahead = model, lookahead
        self._run = compiled(model)

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None) -> "LipSync":
        model, meta = load_network(directory, "lipsync")
        if tuple(model.input_shape[1:]) != (None, len(PHONES)) or model.output_shape[-1] != 52:
            raise VocaError(f"the lip-sync model in {directory or 'the package'} maps {model.input_shape} to "
                            f"{model.output_shape}, not (T, {len(PHONES)}) phones to (T, 52) weights; "
                            "retrain it with voca-cn train")
        return cls(model, meta["lookahead"])

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        n = len(probs)  # the look-ahead reads past the end: the last frame, repeated
        x = Rows(n + self.lookahead, probs.shape[1], lambda a, b: probs[np.minimum(np.arange(a, b), n - 1)])
        return run_chunked(self._run, x, chunk=1800, warmup=180)[self.lookahead:]


class AudioAnimator:
    """Audio -> ARKit weights with no transcript: phonetic stage, 60 fps, lip-sync network."""

    def __init__(self, stage, net: LipSync):
        self.stage, self.net = stage, net

    @classmethod
    def load(cls, directory: str | os.PathLike | None = None) -> "AudioAnimator":
        return cls(PhoneticStage.load(directory), LipSync.load(directory))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """(S,) float32 16 kHz -> (T, 52) float32 ARKit weights at 60 fps, T = ceil(S/16000*60)."""
        return self.run(audio)[0]

    def run(self, audio: np.ndarray):
        """Weights (T, 52) and the recognised phones (segments from the per-frame best phone)."""
        return self.from_probabilities(self.stage(audio), len(audio))

    def from_probabilities(self, probs: np.ndarray, n_samples: int):
        """:meth:`run` after the phonetic stage: (F, P) probabilities of ``n_samples`` of 16 kHz
        audio -> (weights (T, 52), phones). Lets a caller drop long audio before this part."""
        from voca_cn.audio import n_frames

        return self.weights(probs, n_frames(n_samples)), best_phones(probs, n_samples / SR)

    def weights(self, probs: np.ndarray, n: int) -> np.ndarray:
        """(F, P) phone probabilities at 100/s -> (n, 52) float32 weights at 60 fps, lips closed
        wherever the phonetic stage hears a bilabial."""
        w = self.net(resample_frames(probs, FRAME_RATE, FPS, n))
        return close_bilabials(w, bilabials(probs), FPS).astype(np.float32, copy=False)


def bilabials(probs: np.ndarray, rate: float = 100.0, min_frames: int = 2) -> list:
    """Stretches where the phonetic stage hears p, b or m (summed probability above
    :data:`BILABIAL_THRESHOLD` for at least ``min_frames``), as ``p`` segments: the lips must meet
    there, as the procedural animator makes them, however much the network smooths."""
    from voca_cn.alignment import Segment
    from voca_cn.phones import PHONE_INDEX

    on = probs[:, [PHONE_INDEX[p] for p in ("p", "b", "m")]].sum(1) > BILABIAL_THRESHOLD
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(np.int8), [0]])))
    return [Segment("p", a / rate, b / rate) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_frames]


def best_phones(probs: np.ndarray, duration: float, rate: float = 100.0, min_frames: int = 3):
    """(F, P) probabilities -> phone segments: runs of the best phone, runs shorter than
    ``min_frames`` merged into the one before."""
    from voca_cn.alignment import Segment, merge_silences

    best = probs.argmax(1)
    change = np.flatnonzero(np.diff(best)) + 1
    bounds = np.concatenate([[0], change, [len(best)]])
    runs = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if runs and (b - a < min_frames or runs[-1][0] == best[a]):
            runs[-1][2] = b
        else:
            runs.append([best[a], a, b])
    phones = [Segment(PHONES[k], a / rate, min(b / rate, duration)) for k, a, b in runs
              if PHONES[k] != "sil" and a / rate < duration]
    return merge_silences(phones, duration)

"""The two Keras networks (the paper's CNN + LSTM) and the lip-sync loss; training only, the run
time reads their ONNX graphs (``motion.onnx``).

The loss is position + velocity error measured on the vertices: for weights error e (52,) the
squared offset error summed over vertices v with region weights a_v is e^T G e with
G = sum_v a_v B_v^T B_v (52 x 52), averaged over the training templates.
"""

from __future__ import annotations

import numpy as np

from voca_cn.audio.features import N_MELS
from voca_cn.core.phones import PHONES


def phonetic_network(width: int = 128, lookahead: int = 6, n_classes: int = len(PHONES)):
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


LIP, JAW, FACE = 1.0, 0.5, 0.05  # vertex weights of the loss by region


APERTURE = 0.25  # weight of the inner-lip gap's squared error next to the mean lip vertex's (see gram)


def lipsync_network(conv: int = 64, lstm: int = 64, layers_: int = 2, dense: int = 64, n_in: int = len(PHONES)):
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

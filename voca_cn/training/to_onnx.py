"""Keras -> stateful ONNX: the run-time graphs ``motion.onnx`` loads (see its docstring for the
state contract). ``voca-cn train`` writes them; for a model folder trained before that::

    python -m voca_cn.training.to_onnx convert MODEL_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.motion.onnx import NETWORKS

OPSET = 17


IR_VERSION = 8  # readable by every onnxruntime since 1.14


class _Graph:
    """Accumulates ONNX nodes, weights and state inputs/outputs while walking Keras layers."""

    def __init__(self):
        self.nodes, self.weights, self.state_in, self.state_out = [], [], [], []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, array, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.weights.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> list[str]:
        from onnx import helper

        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs

    def state(self, shape: list, hint: str) -> str:
        """A new state input (batch first); returns its name. Its output is set by :meth:`update`."""
        from onnx import TensorProto, helper

        name = f"state{len(self.state_in)}_{hint}"
        self.state_in.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape]))
        return name

    def update(self, value: str, shape: list) -> None:
        from onnx import TensorProto, helper

        name = self.state_in[len(self.state_out)].name.replace("state", "next_state", 1)
        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.state_out.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *shape]))


def _activation(g: _Graph, x: str, name: str) -> str:
    if name == "linear":
        return x
    ops = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
    if name not in ops:
        raise VocaError(f"activation {name!r} has no run-time conversion; use relu, tanh or linear")
    return g.op(ops[name], [x])[0]


def _conv(g: _Graph, x: str, layer) -> str:
    """Causal Conv1D on (batch, channels, frames): state = the last (k-1)*d input frames."""
    cfg = layer.get_config()
    if cfg["padding"] != "causal" or tuple(cfg["strides"]) != (1,):
        raise VocaError(f"layer {layer.name}: only causal, stride-1 Conv1D layers can stream")
    kernel, bias = layer.get_weights()  # (k, in, out), (out,)
    k, c_in, _ = kernel.shape
    d = cfg["dilation_rate"][0]
    ctx = (k - 1) * d
    state = g.state([c_in, ctx], "conv")
    full = g.op("Concat", [state, x], axis=2)[0]
    g.update(g.op("Slice", [full, g.const(np.array([-ctx]), "s"), g.const(np.array([2 ** 62]), "e"),
                            g.const(np.array([2]), "ax")])[0], [c_in, ctx])
    w = g.const(np.ascontiguousarray(kernel.transpose(2, 1, 0)), "conv_w")  # (out, in, k)
    y = g.op("Conv", [full, w, g.const(bias, "conv_b")], dilations=[d], kernel_shape=[k])[0]
    return _activation(g, y, cfg["activation"])


def _recurrent(g: _Graph, x: str, layer) -> str:
    """GRU (reset_after) or LSTM on (frames, batch, features) -> (frames, batch, units)."""
    cfg = layer.get_config()
    if not cfg.get("return_sequences") or cfg.get("go_backwards") or cfg["activation"] != "tanh" \
            or cfg["recurrent_activation"] != "sigmoid":
        raise VocaError(f"layer {layer.name}: only forward tanh/sigmoid recurrent layers can stream")
    units = cfg["units"]
    lstm = type(layer).__name__ == "LSTM"
    kernel, recurrent, bias = layer.get_weights()
    if lstm:  # Keras gates i, f, c, o -> ONNX i, o, f, c
        order = lambda m: np.concatenate([m[..., k * units:(k + 1) * units] for k in (0, 3, 1, 2)], -1)  # noqa: E731
        kernel, recurrent = order(kernel), order(recurrent)
        b = np.concatenate([order(bias), np.zeros(4 * units, np.float32)])
    else:  # Keras gates z, r, h as ONNX; reset_after = linear_before_reset
        if not cfg.get("reset_after", True):
            raise VocaError(f"layer {layer.name}: only GRUs with reset_after=True can be converted")
        b = bias.reshape(-1)  # input bias, then recurrent bias
    inputs = [x, g.const(kernel.T[None], "W"), g.const(recurrent.T[None], "R"), g.const(b[None], "B"), ""]
    states = [g.state([units], "h")] + ([g.state([units], "c")] if lstm else [])
    inputs += [g.op("Unsqueeze", [s, g.const(np.array([0]), "ax")])[0] for s in states]
    extra = {} if lstm else {"linear_before_reset": 1}
    outs = g.op("LSTM" if lstm else "GRU", inputs, n_out=3 if lstm else 2, hidden_size=units, **extra)
    for value in outs[1:]:
        g.update(g.op("Squeeze", [value, g.const(np.array([0]), "ax")])[0], [units])
    return g.op("Squeeze", [outs[0], g.const(np.array([1]), "ax")])[0]


def to_onnx(model):
    """A sequential Keras model of causal Conv1D, GRU, LSTM and Dense layers -> stateful ONNX
    model (input ``x`` (batch, frames, in), output ``y`` (batch, frames, out), then the states)."""
    from onnx import TensorProto, helper

    g = _Graph()
    n_in = model.input_shape[-1]
    x, layout = "x", "btc"
    perm = {("btc", "bct"): [0, 2, 1], ("bct", "btc"): [0, 2, 1], ("btc", "tbc"): [1, 0, 2],
            ("tbc", "btc"): [1, 0, 2], ("bct", "tbc"): [2, 0, 1], ("tbc", "bct"): [1, 2, 0]}

    def to(want: str) -> str:
        nonlocal x, layout
        if layout != want:
            x, layout = g.op("Transpose", [x], perm=perm[(layout, want)])[0], want
        return x

    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "Conv1D":
            x = _conv(g, to("bct"), layer)
        elif kind in ("GRU", "LSTM"):
            x = _recurrent(g, to("tbc"), layer)
        elif kind == "Dense":
            kernel, bias = layer.get_weights()
            x = g.op("Add", [g.op("MatMul", [to("btc"), g.const(kernel, "dense_w")])[0], g.const(bias, "dense_b")])[0]
            x = _activation(g, x, layer.get_config()["activation"])
        else:
            raise VocaError(f"layer {layer.name} ({kind}) has no run-time conversion")
    g.nodes.append(helper.make_node("Identity", [to("btc")], ["y"]))
    n_out = model.output_shape[-1]
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "frames", n_in]), *g.state_in],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "frames", n_out]), *g.state_out],
        g.weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                             producer_name="voca_cn")


def convert(model_dir: str | os.PathLike, names=NETWORKS) -> list[Path]:
    """Write ``NAME.onnx`` for each ``NAME.keras`` in ``model_dir``; returns the written paths."""
    import keras
    import onnx

    model_dir = Path(model_dir)
    written = []
    for name in names:
        src = model_dir / f"{name}.keras"
        if not src.is_file():
            raise VocaError(f"no {src}; give a model folder from voca-cn train")
        proto = to_onnx(keras.saving.load_model(src, compile=False))
        onnx.checker.check_model(proto)
        out = model_dir / f"{name}.onnx"
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(proto.SerializeToString())
        os.replace(tmp, out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m voca_cn.training.to_onnx",
                                 description="Write the run-time (ONNX) networks of a trained model folder.")
    sub = ap.add_subparsers(dest="action", required=True)
    c = sub.add_parser("convert", help="MODEL_DIR/{phonetic,lipsync}.keras -> .onnx beside them")
    c.add_argument("model_dir", type=Path)
    args = ap.parse_args(argv)
    try:
        for path in convert(args.model_dir):
            print(path)
    except VocaError as e:
        print(f"voca-cn: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from voca_cn import _quiet_tensorflow

    _quiet_tensorflow()
    raise SystemExit(main())

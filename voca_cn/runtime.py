"""Run-time networks: the trained Keras models as ONNX graphs run by ONNX Runtime, no TensorFlow.

``voca-cn train`` writes ``phonetic.onnx`` and ``lipsync.onnx`` next to its Keras checkpoints;
for a model folder trained before that existed::

    python -m voca_cn.runtime convert MODEL_DIR

Every graph is *stateful*: besides its input ``x`` (batch, frames, features) it takes the state
its causal layers carry from one call to the next, and returns the new state:

- a causal Conv1D with kernel k and dilation d keeps its last (k - 1) * d input frames,
  (batch, channels, frames);
- a GRU keeps h, an LSTM keeps h and c, (batch, units).

Zero state = the Keras model's causal zero padding at the start of a sequence. So one graph
serves offline inference (long audio cut into overlapping chunks, run as one batch: fast) and
streaming (one sequence, a few frames at a time, state carried: exact), and the two give the same
frames to float precision.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError

MODELS = Path(__file__).resolve().parent / "models"
NETWORKS = ("phonetic", "lipsync")
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime since 1.14


# ----------------------------------------------------------------------------- conversion
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


# ----------------------------------------------------------------------------- inference
@dataclass
class Network:
    """One run-time network: an ONNX Runtime session and the JSON metadata beside it.

    ``net(x, state)`` -> (y, next_state): x (batch, frames, in) float32, y (batch, frames, out),
    state a list of arrays (:meth:`zero_state` at the start of a sequence)."""
    session: object
    meta: dict

    def zero_state(self, batch: int) -> list[np.ndarray]:
        return [np.zeros([batch, *s.shape[1:]], np.float32) for s in self.session.get_inputs()[1:]]

    def __call__(self, x: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        names = [i.name for i in self.session.get_inputs()]
        out = self.session.run(None, dict(zip(names, [np.ascontiguousarray(x, np.float32), *state])))
        return out[0], out[1:]

    def offline(self, x: np.ndarray, chunk: int, warmup: int, per_call: int = 48_000) -> np.ndarray:
        """(F, in) -> (F, out) for a whole sequence (an array, or anything sliced like one such as
        :class:`voca_cn.phonetic.Rows`): cut into ``chunk``-frame pieces, each
        re-reading ``warmup`` frames before it from zero state (the network has forgotten that far
        back: seams match a whole-sequence run to float precision), run as batches."""
        n = len(x)
        starts = list(range(0, n, chunk))
        out = None
        batch = max(1, per_call // (min(chunk, n) + warmup))  # frames per call: bounded memory
        for b in range(0, len(starts), batch):
            group = starts[b:b + batch]
            # as long as the longest window: a short line is not padded out to a chunk + warm-up
            length = max(min(s + chunk, n) - max(0, s - warmup) for s in group)
            windows = np.zeros((len(group), length, x.shape[1]), np.float32)
            for i, s in enumerate(group):  # left-aligned: a causal model ignores the zeros after
                piece = x[max(0, s - warmup):min(s + chunk, n)]
                windows[i, :len(piece)] = piece
            y, _ = self(windows, self.zero_state(len(group)))
            if out is None:
                out = np.zeros((n, y.shape[-1]), np.float32)
            for i, s in enumerate(group):
                skip, m = s - max(0, s - warmup), min(chunk, n - s)
                out[s:s + m] = y[i, skip:skip + m]
        return out


@functools.lru_cache(maxsize=8)
def _session(path: str, mtime_ns: int, threads: int):  # mtime: a rewritten file loads afresh
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no start-up chatter on stderr
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no arena: it kept ~0.3 GB of a long file's activations after the run (a 2-hour file: peak
    # 1.42 GB with it, 1.12 GB without, same speed)
    options.enable_cpu_mem_arena = False
    if threads == 1:  # a streaming session waits for audio most of the time: no busy-waiting
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def load(directory: str | os.PathLike | None, name: str, threads: int = 0) -> Network:
    """Network ``name`` of a model folder (default: the shipped one). ``threads`` 0 = one per
    core (offline), 1 = one core (a stream). Sessions are cached: loading again is free."""
    directory = Path(directory or MODELS)
    meta_path, onnx_path = directory / f"{name}.json", directory / f"{name}.onnx"
    if not meta_path.is_file():
        raise VocaError(f"no {name} model in {directory}; give a folder from voca-cn train "
                        "(or leave out --model for the shipped one)")
    if not onnx_path.is_file():
        raise VocaError(f"{directory} has no {onnx_path.name}; run: python -m voca_cn.runtime convert {directory}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["lookahead"] = int(meta["lookahead"])
        if not 0 <= meta["lookahead"] <= 1000:
            raise ValueError(f"look-ahead {meta['lookahead']} frames")
        session = _session(str(onnx_path.resolve()), onnx_path.stat().st_mtime_ns, threads)
        inputs = session.get_inputs()
        if inputs[0].name != "x" or len(inputs[0].shape) != 3 or len(session.get_outputs()) != len(inputs):
            raise ValueError("not a voca-cn run-time graph")
    except Exception as e:  # noqa: BLE001 - JSON, ONNX Runtime and OS errors report a damaged file many ways
        text = str(e).strip()
        reason = text.splitlines()[0][:200] if text else type(e).__name__
        raise VocaError(f"the {name} model in {directory} is damaged ({reason}); retrain it with "
                        "voca-cn train or leave out --model for the shipped one") from None
    return Network(session, meta)


def check_shape(net: Network, n_in: int, n_out: int, what: str, directory) -> None:
    """Refuse a network that does not map (frames, n_in) to (frames, n_out)."""
    shape_in, shape_out = net.session.get_inputs()[0].shape[-1], net.session.get_outputs()[0].shape[-1]
    if (shape_in, shape_out) != (n_in, n_out):
        raise VocaError(f"the {what} model in {directory or MODELS} maps {shape_in} to {shape_out} features per "
                        f"frame, not {n_in} to {n_out}; retrain it with voca-cn train")


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m voca_cn.runtime",
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

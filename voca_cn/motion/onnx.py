"""Run-time networks: the trained models as ONNX graphs run by ONNX Runtime, no TensorFlow.

``voca-cn train`` writes ``phonetic.onnx`` and ``lipsync.onnx`` next to its Keras checkpoints
(``training.to_onnx``); the shipped ones are package data in ``assets/models``.

Every graph is *stateful*: besides its input ``x`` (batch, frames, features) it takes the state
its causal layers carry from one call to the next, and returns the new state:

- a causal Conv1D with kernel k and dilation d keeps its last (k - 1) * d input frames,
  (batch, channels, frames);
- a GRU keeps h, an LSTM keeps h and c, (batch, units).

Zero state = the Keras model's causal zero padding at the start of a sequence. So one graph
serves offline inference (long audio in pieces of minutes, state carried) and streaming (a few
frames at a time, state carried), and the two give the same frames to float precision.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError

MODELS = Path(__file__).resolve().parent.parent / "assets" / "models"
# the shipped models, chosen by name (``--model robust``): "clean" trained on clean speech, "robust"
# with half of its windows from degraded audio and a wider phonetic stage (better on noisy, echoing, phone-line and low-bitrate
# audio, worse on clean speech); with no --model both run, mixed (voca_cn.motion.fallback)
BUNDLED = {"clean": MODELS, "robust": MODELS / "robust"}


def model_folder(model: str | os.PathLike | None) -> Path:
    """A ``--model`` value -> its folder: None the shipped clean model (the default mixes in the
    robust one), a bundled model's name (where no folder of that name is here), else the path given."""
    if model is None:
        return MODELS
    path = Path(model)
    return BUNDLED[str(model)] if str(model) in BUNDLED and not path.exists() else path


NETWORKS = ("phonetic", "lipsync")


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

    def offline(self, x: np.ndarray, chunk: int = 12_000) -> np.ndarray:
        """(F, in) -> (F, out) for a whole sequence (an array, or anything sliced like one such as
        :class:`voca_cn.motion.phonetic.Rows`), ``chunk`` frames a call with the state carried from
        one call to the next: what one pass gives, in bounded memory. (Chunks that re-read a warm-up
        from zero state instead, run side by side, were no faster and not exact: the robust phonetic
        GRU still remembered 3 s back, up to 0.13 in a phone's probability at the seams.)"""
        n, state, out = len(x), self.zero_state(1), None
        for a in range(0, n, chunk):
            y, state = self(x[a:a + chunk][None], state)
            if out is None:
                out = np.zeros((n, y.shape[-1]), np.float32)
            out[a:a + y.shape[1]] = y[0]
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
    directory = model_folder(directory)
    meta_path, onnx_path = directory / f"{name}.json", directory / f"{name}.onnx"
    if not meta_path.is_file():
        raise VocaError(f"no {name} model in {directory}; give a folder from voca-cn train, "
                        "'clean' or 'robust' (or leave out --model for the shipped mix)")
    if not onnx_path.is_file():
        raise VocaError(f"{directory} has no {onnx_path.name}; run: python -m voca_cn.training.to_onnx convert {directory}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["lookahead"] = int(meta["lookahead"])
        if not 0 <= meta["lookahead"] <= 1000:
            raise ValueError(f"look-ahead {meta['lookahead']} frames")
        # "one per core" counted in the cores this process may use: left at 0, ONNX Runtime starts one
        # thread per core of the machine and pins each to its core, out of a taskset or cpuset
        cores = threads or len(os.sched_getaffinity(0))
        session = _session(str(onnx_path.resolve()), onnx_path.stat().st_mtime_ns, cores)
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

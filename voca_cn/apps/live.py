"""``voca-cn stream``: a microphone or a file paced in real time -> :class:`voca_cn.motion.stream.Stream`
-> frames as JSON lines on stdout and/or VMC blendshape messages over OSC.

VMC (the Virtual Motion Capture protocol that VSeeFace, Warudo and VNyan receive): per frame one
OSC bundle of ``/VMC/Ext/Blend/Val`` (name, value) for the 52 ARKit "perfect sync" shapes, named
as VRM perfect-sync models name them (Apple's names with a capital first letter: ``JawOpen``),
then ``/VMC/Ext/Blend/Apply``. ``--vmc-names vrm`` sends the VRM standard expressions instead (``A``,
``I``, ``U``, ``E``, ``O``, ``Blink_L``, ``Blink_R``: what a VRM without perfect sync has,
driven from the curves as ``formats.vrm.DRIVE`` says); ``both`` sends the two sets.

Latency, per frame: from the arrival of the audio chunk that made it final (the microphone's
callback, or the chunk's real-time release for a file) to the moment it was sent.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from voca_cn import VocaError
from voca_cn.audio import load as audio
from voca_cn.core.arkit import NAMES
from voca_cn.core.timing import SR
from voca_cn.face.template import head_matrices
from voca_cn.motion.fallback import degraded
from voca_cn.motion.living import Living
from voca_cn.motion.stream import Stream

VMC_NAMES = tuple(n[0].upper() + n[1:] for n in NAMES)


# ----------------------------------------------------------------------------- sinks
class JsonLines:
    """One JSON object per frame on a text stream: {"frame", "time" (s), "weights" {name: value},
    "head" [yaw, pitch, roll] radians (``animation.npz``'s convention)}."""

    def __init__(self, out=sys.stdout):
        self.out = out

    def send(self, index: int, weights: np.ndarray, head: np.ndarray) -> None:
        values = {n: round(float(v), 6) for n, v in zip(NAMES, weights)}
        self.out.write(json.dumps({"frame": index, "time": round(index / 60, 4), "weights": values,
                                   "head": [round(float(v), 6) for v in head]}) + "\n")
        self.out.flush()


class Vmc:
    """VMC frames over OSC/UDP to ``host:port``: the head bone (``/VMC/Ext/Bone/Pos Head``, local
    position 0 and rotation in Unity's left-handed axes, X to the avatar's right) and the blendshapes."""

    def __init__(self, address: str, names: str = "arkit"):
        from pythonosc.udp_client import SimpleUDPClient

        self.names = names
        host, port = osc_address(address)
        self.address = address
        self.client = SimpleUDPClient(host, port)

    def send(self, index: int, weights: np.ndarray, head: np.ndarray) -> None:
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message_builder import OscMessageBuilder

        bundle = OscBundleBuilder(IMMEDIATELY)
        bone = OscMessageBuilder("/VMC/Ext/Bone/Pos")
        bone.add_arg("Head")
        for v in (0.0, 0.0, 0.0, *unity_quaternion(head)):
            bone.add_arg(float(v), "f")
        bundle.add_content(bone.build())
        for name, value in vmc_values(weights, self.names):
            msg = OscMessageBuilder("/VMC/Ext/Blend/Val")
            msg.add_arg(name)
            msg.add_arg(float(value), "f")
            bundle.add_content(msg.build())
        bundle.add_content(OscMessageBuilder("/VMC/Ext/Blend/Apply").build())
        try:
            self.client.send(bundle.build())
        except OSError as e:  # no route to the host, the network went away
            raise VocaError(f"cannot send to --osc {self.address} ({e.strerror or e}); check the receiver's "
                            "address") from None


def osc_address(address: str) -> tuple[str, int]:
    """``--osc HOST:PORT`` (``[::1]:39539`` for IPv6) -> (numeric address, port), resolved once
    here so a name that does not resolve is one line, not a traceback."""
    host, _, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise VocaError(f"--osc {address!r} must look like HOST:PORT, e.g. 127.0.0.1:39539 or [::1]:39539")
    try:
        info = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError, OSError) as e:
        raise VocaError(f"--osc host {host!r} cannot be resolved ({getattr(e, 'strerror', None) or e}); "
                        "give the receiver's IP address or a known host name") from None
    return info[0][4][0], int(port)


def vmc_values(weights: np.ndarray, names: str = "arkit") -> list[tuple[str, float]]:
    """(VMC name, value) pairs for one frame of ARKit weights (52,): ``arkit`` (perfect sync),
    ``vrm`` (the standard expressions) or ``both``."""
    from voca_cn.formats.vrm import VMC_NAMES as VRM_NAMES
    from voca_cn.formats.vrm import expression_weights

    out = list(zip(VMC_NAMES, map(float, weights))) if names in ("arkit", "both") else []
    if names in ("vrm", "both"):
        expr, values = expression_weights(np.asarray(weights)[None])
        # each eye's own blink only: a receiver adds Blink on top of Blink_L/Blink_R
        out += [(VRM_NAMES[e], float(v)) for e, v in zip(expr, values[0]) if e != "blink"]
    return out


def unity_quaternion(head: np.ndarray) -> np.ndarray:
    """(3,) head rotation (yaw, pitch, roll) radians, voca_cn's right-handed head frame (X the
    avatar's left) -> (4,) quaternion (x, y, z, w) in Unity's left-handed frame (X its right):
    the mirror in X keeps x and w and negates y and z."""
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(head_matrices(np.asarray(head, np.float64)[None])[0].astype(np.float64)).as_quat()
    return np.array([q[0], -q[1], -q[2], q[3]])


# ----------------------------------------------------------------------------- sources
def paced_file(path: str, chunk: int, stop: threading.Event):
    """(arrival time, samples) chunks of a file, each released when it would have been heard."""
    y = audio.load(path)
    start = time.perf_counter()
    for s in range(0, len(y), chunk):
        if stop.is_set():
            return
        due = start + (s + chunk) / SR
        time.sleep(max(0.0, due - time.perf_counter()))
        yield time.perf_counter(), y[s:s + chunk]


def microphone(device: str, chunk: int, stop: threading.Event):
    """(arrival time, samples) chunks from an input device at 16 kHz mono, until Ctrl-C."""
    try:
        import sounddevice as sd
    except OSError as e:  # PortAudio missing
        raise VocaError(f"no audio input ({e}); install libportaudio2 or stream a file with --audio") from None
    chunks: queue.Queue = queue.Queue()

    def callback(indata, frames, when, status):
        chunks.put((time.perf_counter(), indata[:, 0].copy()))

    dev = int(device) if device.isdigit() else (device or None)
    try:
        with sd.InputStream(samplerate=SR, channels=1, dtype="float32", blocksize=chunk, device=dev,
                            callback=callback):
            print("voca-cn: listening (Ctrl-C ends)", file=sys.stderr)
            while not stop.is_set():
                try:
                    yield chunks.get(timeout=0.1)
                except queue.Empty:
                    continue
    except (sd.PortAudioError, ValueError) as e:  # ValueError: no device matching the name
        raise VocaError(f"cannot open the microphone {device!r} ({str(e).splitlines()[0][:120]}); list devices with "
                        "python -m sounddevice, pass --mic NAME, or stream a file with --audio") from None


# ----------------------------------------------------------------------------- stats
@dataclass
class Stats:
    """Compute per push (s) and per frame latency (s) from chunk arrival to send."""
    audio_s: float = 0.0
    compute: list = field(default_factory=list)
    latency: list = field(default_factory=list)

    def report(self, lookahead_ms: float, frames: int) -> str:
        c = np.array(self.compute or [0.0])
        lat = np.array(self.latency or [0.0]) * 1000
        per10 = c.sum() / max(self.audio_s, 1e-9) * 0.010 * 1000
        return (f"voca-cn: stream: {frames} frames from {self.audio_s:.2f} s of audio; algorithmic look-ahead "
                f"{lookahead_ms:.1f} ms; compute {per10:.3f} ms per 10 ms of audio (one core), "
                f"per chunk p50 {np.median(c) * 1000:.3f} ms, max {c.max() * 1000:.3f} ms; latency chunk "
                f"arrival -> frame sent p50 {np.median(lat):.2f} ms, p95 {np.percentile(lat, 95):.2f} ms, "
                f"max {lat.max():.2f} ms")


NOISY_S = 2.0  # s: a stream says it sounds degraded after this long in a row (a spike says nothing)


def run(args, living: Living | None = None) -> None:
    """The ``stream`` command: source -> Stream (with the ``living`` layers,
    :class:`voca_cn.motion.living.Living`) -> sinks until the audio ends or Ctrl-C."""
    sinks = [Vmc(args.osc, getattr(args, "vmc_names", "arkit"))] if args.osc else []
    if args.jsonl or not args.osc:
        sinks.append(JsonLines())
    chunk = max(1, int(round(args.chunk_ms * SR / 1000)))
    stop = threading.Event()  # Ctrl-C sets it: the frame being sent is finished, none is lost
    source = paced_file(args.audio, chunk, stop) if args.audio else microphone(args.mic, chunk, stop)
    stream, stats = Stream(args.model, living or Living()), Stats()

    def emit(frames: np.ndarray, arrived: float | None) -> None:
        first = stream.frames - len(frames)
        for i, w in enumerate(frames):
            for sink in sinks:
                sink.send(first + i, w, stream.head[i])
            if arrived is not None:  # the frames flushed at the end arrive with no chunk
                stats.latency.append(time.perf_counter() - arrived)

    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    noisy_s, said = 0.0, False  # audio seconds in a row that sounded degraded; said once a stream
    try:
        for arrived, samples in source:
            t0 = time.perf_counter()
            frames = stream.push(samples)
            stats.compute.append(time.perf_counter() - t0)
            stats.audio_s += len(samples) / SR
            emit(frames, arrived)
            noisy = degraded(stream.disagreement)
            noisy_s = noisy_s + len(samples) / SR if noisy else 0.0
            if noisy_s >= NOISY_S and not said:
                said = True
                print(f"voca-cn: stream: {noisy}: the robust model carries it", file=sys.stderr)
        if stop.is_set():
            print("voca-cn: stream: stopped", file=sys.stderr)
        emit(stream.close(), None)
    finally:
        signal.signal(signal.SIGINT, previous)
        source.close()
    if args.stats:
        print(stats.report(stream.lookahead_ms(), stream.frames), file=sys.stderr)

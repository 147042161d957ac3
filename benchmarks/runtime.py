"""Start-up, end-to-end speed and streaming cost, as a user meets them.

    python benchmarks/runtime.py [--seconds 60] [--repeats 3]

Runs the command line in fresh processes (``python -m voca_cn`` from this checkout):
``--version``; ``animate --no-video --no-obj`` on a 1 s file and on a long file of real speech
(espeak-ng sentences, 22.05 kHz, so resampling is included); and ``Stream`` in this process,
pushing 10 ms chunks on one core, for the compute per 10 ms of audio. Best of ``--repeats``
wall times (the machine is shared); real-time factors include process start-up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SENTENCES = ["Bob bought a map, and Pam may buy my puppy.", "The weather was calm and snowy all night.",
             "Please bring your own food to the meeting on Friday.", "Which way is the old museum from here?"]


def speech(path: Path, seconds: float) -> Path:
    """A WAV of ``seconds`` of espeak-ng speech in four voices at its native 22.05 kHz."""
    clips = []
    for i, (text, voice) in enumerate(zip(SENTENCES, ["en-us", "en+f3", "en-gb-scotland", "en-us+m3"])):
        wav = path.with_name(f"clip{i}.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        y, sr = sf.read(wav, dtype="float32")
        clips.append(y)
    one = np.concatenate(clips)
    sf.write(path, np.tile(one, int(np.ceil(seconds * sr / len(one))))[: int(seconds * sr)], sr)
    return path


def wall(args: list[str], repeats: int) -> float:
    """Best wall time (s) of ``python -m voca_cn ARGS`` in a fresh process."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "voca_cn", *args], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
    return best


def stream_cost(path: Path, chunk_ms: float = 10.0) -> tuple[float, float]:
    """(compute ms per 10 ms of audio, algorithmic look-ahead ms) of a Stream fed ``chunk_ms`` pushes."""
    from voca_cn.audio import load as audio
    from voca_cn.motion.stream import Stream

    y = audio.load(path)
    s = Stream()
    s.push(y[:1600])  # first-call set-up, as a running stream has had
    s = Stream()
    step = int(16 * chunk_ms)
    t0 = time.perf_counter()
    for i in range(0, len(y), step):
        s.push(y[i:i + step])
    s.close()
    return (time.perf_counter() - t0) / (len(y) / 16000) * 10, s.lookahead_ms()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        short, long_ = speech(tmp / "short.wav", 1.0), speech(tmp / "long.wav", args.seconds)
        t_version = wall(["--version"], args.repeats)
        out = lambda name: ["--out", str(tmp / name), "--overwrite", "--no-video", "--no-obj"]  # noqa: E731
        t_short = wall(["animate", "--audio", str(short), *out("short")], args.repeats)
        t_long = wall(["animate", "--audio", str(long_), *out("long")], args.repeats)
        per10, lookahead = stream_cost(long_)
    print(f"voca-cn --version: {t_version:.2f} s")
    print(f"animate --no-video --no-obj, 1 s file: {t_short:.2f} s (process start-up included)")
    print(f"animate --no-video --no-obj, {args.seconds:.0f} s file: {t_long:.2f} s = "
          f"{args.seconds / t_long:.1f}x real time (start-up included)")
    print(f"stream: {per10:.3f} ms compute per 10 ms of audio (10 ms pushes, one core); "
          f"algorithmic look-ahead {lookahead:.1f} ms (shipped model's metadata)")


if __name__ == "__main__":
    main()

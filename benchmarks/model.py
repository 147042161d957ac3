"""Speed and memory of the audio-only model on long audio.

    python benchmarks/model.py [--minutes 60] [--model DIR] [--template makehuman]

Makes a long recording by repeating real speech (espeak-ng sentences in several voices), then
times, with the model already loaded: audio -> ARKit weights, and weights -> per-vertex offsets
(computed a minute at a time and dropped, as the OBJ writer does). Prints real-time factors, CPU
seconds (llvm/ONNX threads included; the figure to compare on a shared machine), the CPU seconds of
the whole ``voca_cn.animate`` (loudness, mouth at rest and the living face added) and the process's
peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import voca_cn  # noqa: E402
from voca_cn.audio import load as audio  # noqa: E402
from voca_cn.formats import resolve  # noqa: E402
from voca_cn.motion.lipsync import AudioAnimator  # noqa: E402

SENTENCES = ["Bob bought a map, and Pam may buy my puppy.", "The weather was calm and snowy all night.",
             "Please bring your own food to the meeting on Friday.", "Which way is the old museum from here?"]


def long_speech(minutes: float) -> np.ndarray:
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (text, voice) in enumerate(zip(SENTENCES, ["en-us", "en+f3", "en-gb-scotland", "en-us+m3"])):
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
            clips.append(audio.load(wav))
    one = np.concatenate(clips)
    return np.tile(one, int(np.ceil(minutes * 60 * audio.SR / len(one))))[: int(minutes * 60 * audio.SR)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--model")
    ap.add_argument("--template", default="makehuman")
    args = ap.parse_args()
    y = long_speech(args.minutes)
    seconds = len(y) / audio.SR
    animator = AudioAnimator.load(args.model)
    animator(y[: audio.SR * 5])  # trace the graphs once, as a loaded service would have
    t0, c0 = time.perf_counter(), time.process_time()
    weights = animator(y)
    t_weights, c_weights = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    voca_cn.animate(y, sr=audio.SR, model=animator)  # what `animate` runs: + loudness, rest, the living face
    c_full = time.process_time() - c0
    template = resolve(args.template)
    t0 = time.perf_counter()
    for s in range(0, len(weights), 3600):
        template.offsets(weights[s:s + 3600])
    t_offsets = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds / 60:.1f} min of audio, {len(weights)} frames at 60 fps, template {args.template}")
    print(f"audio -> weights: {t_weights:.1f} s = {seconds / t_weights:.0f}x real time ({c_weights:.1f} CPU s)")
    print(f"voca_cn.animate (+ loudness, mouth at rest, living face): {c_full:.1f} CPU s = "
          f"{seconds / c_full:.0f} audio s per CPU s")
    print(f"audio -> weights + offsets: {t_weights + t_offsets:.1f} s = "
          f"{seconds / (t_weights + t_offsets):.0f}x real time")
    print(f"peak resident memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()

"""Peak memory of `voca-cn animate --no-video --no-obj` on one long file.

    python benchmarks/memory.py [--hours 2] [--rate 22050] [--model clean]

Builds a long WAV (int16 mono at --rate) by repeating real speech (espeak-ng sentences in
several voices), runs the command as a user would in a child process and prints the child's peak
resident memory (ru_maxrss) and its real-time factor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from model import long_speech  # noqa: E402


def make(wav: Path, hours: float, rate: int) -> None:
    """The long file: repeated espeak-ng speech, int16 at ``rate``."""
    y = long_speech(hours * 60)
    if rate != 16000:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(rate, 16000)
        y = resample_poly(y, rate // g, 16000 // g).astype(np.float32)
    sf.write(wav, y, rate, subtype="PCM_16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--rate", type=int, default=22050, help="sample rate of the file (resampled on load)")
    ap.add_argument("--dir", help="work folder (default: a temporary one)")
    ap.add_argument("--model", help="passed to animate (default: the shipped mix of two models)")
    ap.add_argument("--make", help=argparse.SUPPRESS)  # internal: write the file and exit
    args = ap.parse_args()
    if args.make:
        return make(Path(args.make), args.hours, args.rate)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        wav = Path(tmp) / "long.wav"
        # made in a child: a child's peak-memory figure includes its parent's size when it was
        # forked, so this process must stay small
        subprocess.run([sys.executable, __file__, "--make", str(wav), "--hours", str(args.hours),
                        "--rate", str(args.rate)], check=True)
        cmd = [sys.executable, "-m", "voca_cn", "animate", "--audio", str(wav), "--out", str(Path(tmp) / "out"),
               "--no-video", "--no-obj"] + (["--model", args.model] if args.model else [])
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own figures, not the file maker's
        wall = time.perf_counter() - t0
        if status:
            sys.exit(f"animate failed (status {status})")
        peak = usage.ru_maxrss / 1024
    print(f"{args.hours:.2f} h file at {args.rate} Hz: `animate --no-video --no-obj` peak resident memory "
          f"{peak:.0f} MB, wall {wall:.0f} s = {args.hours * 3600 / wall:.0f}x real time (incl. start-up)")


if __name__ == "__main__":
    main()

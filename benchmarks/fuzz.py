"""Property-based fuzzing at scale: every loader and writer on >= 10,000 generated inputs.

    python benchmarks/fuzz.py [--per-test 1500] [--align 100]

Runs tests/test_fuzz.py under the hypothesis profile ``benchmark`` (random seeds, ``--per-test``
examples for each property; forced alignment, ~1 s an example, gets ``--align``) and prints the
number of inputs each property was run on, from hypothesis's own statistics, and the total.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-test", type=int, default=1500)
    ap.add_argument("--align", type=int, default=100)
    args = ap.parse_args()
    env = dict(os.environ, VOCA_CN_FUZZ_PROFILE="benchmark", VOCA_CN_FUZZ_EXAMPLES=str(args.per_test),
               VOCA_CN_FUZZ_ALIGN_EXAMPLES=str(args.align), PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py",
                           "--hypothesis-show-statistics"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    total = 0
    for name, block in re.findall(r"tests/test_fuzz.py::(\w+):\n(.*?)(?=\n\S|\Z)", proc.stdout, re.S):
        n = sum(int(a) + int(b) for a, b in re.findall(r"(\d+) passing examples?, (\d+) failing examples?", block))
        total += n
        print(f"{name:60s} {n:6d} inputs")
    outcome = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-2000:]
    print(f"total: {total} generated inputs in {wall / 60:.1f} min; pytest: {outcome}")
    if proc.returncode:
        print(proc.stdout[-6000:], file=sys.stderr)
        sys.exit(proc.returncode)


if __name__ == "__main__":
    main()

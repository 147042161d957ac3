"""Throughput of `voca-cn batch` on many short dialogue lines, local processes vs Ray.

    python benchmarks/batch.py [--lines 1000] [--hours 1.0] [--jobs 2] [--engines local,ray,cluster] [--repeat 3] [--dir DIR]

Speaks ``--lines`` lines with espeak-ng (four voices, 22.05 kHz, random words from a fixed
vocabulary, seeded; ~``--hours`` of audio in all; kept in ``--dir`` for reruns), then times
`voca-cn batch LINES --out OUT --jobs N` end to end as a user runs it (worker start-up and model
loading included; outputs: animation.npz + visemes.json) on each engine: ``local`` processes,
``ray`` (the command starts and stops a private Ray: ~6 s here) and ``cluster`` (``--ray ADDRESS``
of a Ray head this script keeps running, as a cluster would be), ``--repeat`` times each, the
engines alternating (on a shared machine the load moves between runs). Prints each run, the best
real-time factor per engine, Ray's throughput relative to the local engine's, and whether every
run of both engines wrote byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
# the cluster here is private to this run: Ray's token authentication (on by default since 2.5x)
# would need its token handed to every driver
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}
VOICES = ["en-us", "en+f3", "en-gb-scotland", "en-us+m3"]
WORDS = ("the a map bob bought pam may buy my puppy weather was calm and snowy all night please bring your own "
         "food to meeting on friday which way is old museum from here captain said we will go there tomorrow "
         "if it does not rain seven boats sailed past harbour while children played beach nobody knew answer "
         "question except teacher who smiled quietly").split()


def make_lines(folder: Path, n: int, hours: float, seed: int = 0) -> float:
    """``n`` espeak-ng lines in ``folder`` (reused when already there); returns their audio seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    words_per_line = max(1, round(hours * 3600 / n * 3.2))  # espeak-ng speaks ~3.2 of these words/s
    total = 0.0
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(words_per_line // 2, words_per_line * 3 // 2)))
        voice = VOICES[i % len(VOICES)]
        wav = folder / f"line{i:05d}.wav"
        if not wav.is_file():
            tmp = wav.with_suffix(".part")
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(tmp), text], check=True)
            tmp.replace(wav)
        total += sf.info(wav).duration
    return total


def run(engine: str, lines: Path, out: Path, jobs: int, cluster: str | None = None) -> float:
    cmd = [sys.executable, "-m", "voca_cn", "batch", str(lines), "--out", str(out), "--jobs", str(jobs)]
    if engine == "ray":
        cmd.append("--ray")  # a private local Ray, started and stopped by the command
    elif engine == "cluster":
        cmd += ["--ray", cluster]  # a Ray already running, as on a cluster
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, **NO_AUTH))
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{engine} batch failed:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    assert summary["done"] == summary["lines"], summary
    return wall


def start_cluster(cpus: int) -> tuple[subprocess.Popen, str]:
    """A Ray head on this machine, held by a child process until its stdin closes (then it shuts
    down what it started, and nothing else)."""
    code = ("import logging, sys, ray; ray.init(num_cpus=%d, include_dashboard=False, logging_level=logging.ERROR); "
            "print(ray.get_runtime_context().gcs_address, flush=True); sys.stdin.read(); ray.shutdown()" % cpus)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, **NO_AUTH))
    return proc, proc.stdout.readline().strip()


def digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.parent != out:
            h.update(str(p.relative_to(out)).encode() + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--engines", default="local,ray,cluster",
                    help="local processes; ray: a private Ray started by the command; cluster: a running Ray")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine, alternating; the best counts")
    ap.add_argument("--dir", type=Path, help="folder for the spoken lines (kept); default: a temporary one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = args.dir or Path(tmp) / "lines"
        seconds = make_lines(lines, args.lines, args.hours)
        print(f"{args.lines} lines, {seconds / 3600:.3f} h of audio ({seconds / args.lines:.1f} s a line), "
              f"{args.jobs} jobs")
        walls, digests = {}, {}
        holder, cluster = start_cluster(args.jobs) if "cluster" in args.engines else (None, None)
        for k in range(args.repeat):  # engines alternate, so a change in the machine's load hits both
            for engine in args.engines.split(","):
                out = Path(tmp) / f"out-{engine}-{k}"
                wall = run(engine, lines, out, args.jobs, cluster)
                walls.setdefault(engine, []).append(wall)
                digests.setdefault(engine, set()).add(digest(out))
                shutil.rmtree(out)
                print(f"{engine:6s} run {k + 1}: wall {wall:7.1f} s = {seconds / wall:6.0f}x real time "
                      "(end to end, start-up included)", flush=True)
        if holder:
            holder.stdin.close()
            holder.wait()
        rtf = {e: seconds / min(w) for e, w in walls.items()}
        for engine, r in rtf.items():
            print(f"{engine:6s} best of {args.repeat}: {r:.0f}x real time")
        for engine in set(rtf) - {"local"}:
            if "local" in rtf:
                print(f"{engine} / local throughput (best of each): {rtf[engine] / rtf['local'] * 100:.0f} %")
        print(f"outputs byte-identical across engines and runs: {len(set().union(*digests.values())) == 1}")


if __name__ == "__main__":
    main()

"""The job a user runs, timed end to end: `voca-cn animate` on 60 s and 10 min of real speech, each
output alone and all together.

    python benchmarks/full_job.py [--minutes 1,10] [--outputs weights,obj,preview,pc2,glb,default,all,long] [--quick]
                                  [--template makehuman] [--size 512x512] [--json FILE]

The speech is Kathleen's read utterances (../shared/corpora/kathleen, real recordings) joined in name
order until the length is reached (data/examples/hello.wav repeated where the corpus is absent), written
as a 16 kHz 16-bit WAV. Each row runs the command as a user would, in a fresh child process, process
start-up included, at 60 fps:

    weights   --no-video --no-obj                       animation.npz + visemes.json only
    obj       --no-video --obj                          + meshes/*.obj
    preview   --no-obj                                  + preview.mp4
    pc2       --no-video --no-obj --export pc2          + animation.pc2 (point cache) + its base mesh
    glb       --no-video --no-obj --export glb          + animation.glb
    default   (no flags)                                what `voca-cn animate` writes without options
    all       --obj --export pc2,glb                    every output at once
    long      --no-obj --export pc2,glb,livelink,arkit-json  every output an hour can hold: all but the OBJ text
                                                        (110 GB an hour for makehuman; `animate` refuses a
                                                        sequence over 10 GB unless --obj is given)

Reported per row: wall seconds, frames/s (60 fps frames of the animation / wall), real-time factor (audio
seconds / wall), peak memory (the animate process's own peak resident set, from wait4; and the peak of
the sum over its process tree, sampled every 50 ms, which counts render workers and ffmpeg together), and
the bytes the output folder holds, and the CPU seconds the job used (its whole process tree: workers and
ffmpeg are waited for, so they count). "cpu-bound x" = audio seconds / (CPU seconds / cores): the
real-time factor the job would reach with every core to itself and all of them busy, an upper bound that
other users' load does not change much. The machine's load average is printed with each row: other users'
work slows the wall-clock figures, so compare rows measured at the same load. ``--quick``: 10 s of speech, for a
smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
KATHLEEN = ROOT.parent / "shared/corpora/kathleen/utterances"
SR = 16000
CORES = len(os.sched_getaffinity(0))  # the cores this job may use (taskset narrows them), not the machine's
OUTPUTS = {
    "weights": ["--no-video", "--no-obj"],
    "obj": ["--no-video", "--obj"],
    "preview": ["--no-obj"],
    "pc2": ["--no-video", "--no-obj", "--export", "pc2"],
    "glb": ["--no-video", "--no-obj", "--export", "glb"],
    "default": [],
    "all": ["--obj", "--export", "pc2,glb"],
    "long": ["--no-obj", "--export", "pc2,glb,livelink,arkit-json"],
}


def speech(seconds: float) -> np.ndarray:
    """(S,) float32 16 kHz real speech, ``seconds`` long: Kathleen's utterances in name order, repeated
    from the start when the corpus is shorter (hello.wav where the corpus is absent)."""
    import soxr

    files = sorted(KATHLEEN.glob("*.flac")) or [ROOT / "data/examples/hello.wav"]
    need, parts, have = int(seconds * SR), [], 0
    while have < need:
        for f in files:
            y, sr = sf.read(f, dtype="float32", always_2d=True)
            y = y.mean(1)
            y = y if sr == SR else soxr.resample(y, sr, SR).astype(np.float32)
            parts.append(y)
            have += len(y)
            if have >= need:
                break
    return np.concatenate(parts)[:need]


def gl_renderer() -> str:
    """The OpenGL renderer the preview's workers will draw with (headless EGL): llvmpipe on a CPU."""
    try:
        import moderngl

        ctx = moderngl.create_context(standalone=True, backend="egl")
        name = ctx.info["GL_RENDERER"]
        ctx.release()
        return name
    except Exception as e:  # noqa: BLE001 (the preview rows then fail with the product's own message)
        return f"no OpenGL ({e})"


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants now (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def run(wav: Path, out: Path, flags: list[str], template: str, size: str) -> dict:
    """One `voca-cn animate` in a child: wall s, own peak MB, tree peak MB, output bytes, files."""
    cmd = [sys.executable, "-m", "voca_cn", "animate", "--audio", str(wav), "--out", str(out),
           "--template", template, "--size", size, *flags]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = [0], threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], tree_rss(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    err = threading.Thread(target=lambda: setattr(child, "err", child.stderr.read()), daemon=True)
    err.start()
    _, status, usage = os.wait4(child.pid, 0)  # the child's own figures, not this process's
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    err.join()
    child.returncode = status
    if status:
        tail = child.err.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise SystemExit(f"animate {' '.join(flags)} failed: {tail[0]}")
    files = sum(1 for f in out.rglob("*") if f.is_file())
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "own_peak_mb": usage.ru_maxrss / 1024,
            "tree_peak_mb": peak[0] / 2**20, "bytes": disk_bytes(out), "files": files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,10", help="comma-separated lengths of speech (default 1,10)")
    ap.add_argument("--outputs", default=",".join(OUTPUTS), help=f"rows to run, of {','.join(OUTPUTS)}")
    ap.add_argument("--template", default="makehuman")
    ap.add_argument("--size", default="512x512")
    ap.add_argument("--quick", action="store_true", help="10 s of speech only (a smoke run)")
    ap.add_argument("--dir", type=Path, help="work folder (default: a temporary one; needs ~0.5 GB a minute "
                                                "for the OBJ rows)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    minutes = [1 / 6] if args.quick else [float(m) for m in args.minutes.split(",")]
    outputs = args.outputs.split(",")
    unknown = set(outputs) - set(OUTPUTS)
    if unknown:
        raise SystemExit(f"unknown --outputs {', '.join(sorted(unknown))}; choose from {', '.join(OUTPUTS)}")
    rows = []
    print(f"{'speech':>7} {'output':<8} {'wall s':>7} {'frames/s':>9} {'x real':>7} {'cpu s':>7} {'cpu-bound x':>11} "
          f"{'own MB':>7} {'tree MB':>8} "
          f"{'disk MB':>9} {'files':>6}  load ({args.template}, {args.size}, 60 fps, "
          f"{CORES} cores, {gl_renderer()})", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for m in minutes:
            wav = Path(tmp) / f"speech-{m:g}min.wav"
            sf.write(wav, speech(m * 60), SR, subtype="PCM_16")
            frames = int(np.ceil(m * 60 * 60))
            for name in outputs:
                out = Path(tmp) / "out"
                load = os.getloadavg()[0]
                r = run(wav, out, OUTPUTS[name], args.template, args.size)
                shutil.rmtree(out)
                row = {"minutes": m, "output": name, "flags": OUTPUTS[name], "frames": frames, **r,
                       "fps": frames / r["wall_s"], "x_real_time": m * 60 / r["wall_s"],
                       "cpu_bound_x": m * 60 * CORES / r["cpu_s"],
                       "load_before": load, "load_after": os.getloadavg()[0]}
                rows.append(row)
                print(f"{m * 60:>6.0f}s {name:<8} {r['wall_s']:>7.1f} {row['fps']:>9.0f} {row['x_real_time']:>7.1f} "
                      f"{r['cpu_s']:>7.1f} {row['cpu_bound_x']:>11.1f} "
                      f"{r['own_peak_mb']:>7.0f} {r['tree_peak_mb']:>8.0f} {r['bytes'] / 1e6:>9.1f} {r['files']:>6}  "
                      f"{load:.1f}-{row['load_after']:.1f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

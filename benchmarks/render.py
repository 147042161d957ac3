"""Rendering and OBJ-writing speed, frames per second, for makehuman and an imported ICT head.

    python benchmarks/render.py [--ict ../shared/assets/ict-facekit/FaceXModel.tar.xz] [--frames 300]

Runs in this process (it never imports TensorFlow, so Mesa is safe here). Animation: 300 frames of
a moving jaw and lips. Render = deform + normals + draw + read back a 512x512 RGB frame, as frames
per second of wall time and CPU milliseconds per frame (llvmpipe's threads included: the figure to
compare on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn.core.arkit import INDEX  # noqa: E402
from voca_cn.formats import resolve  # noqa: E402
from voca_cn.formats.obj import ObjWriter  # noqa: E402
from voca_cn.render import render_video
from voca_cn.render.preview import Renderer  # noqa: E402

SHARED_ICT = Path(__file__).resolve().parent.parent.parent / "shared/assets/ict-facekit/FaceXModel.tar.xz"


def animation(n: int) -> np.ndarray:
    w = np.zeros((n, 52), np.float32)
    t = np.arange(n) / 60
    w[:, INDEX["jawOpen"]] = 0.25 * (1 + np.sin(2 * np.pi * 3 * t))
    w[:, INDEX["mouthPucker"]] = 0.3 * (1 + np.sin(2 * np.pi * 1.3 * t))
    return w


def bench(template, n: int, size: int) -> dict[str, float]:
    w = animation(n)
    r = Renderer(template, size, size)
    r.frame(template.vertices)  # warm up shader compilation
    t0, c0 = time.perf_counter(), time.process_time()
    for v in template.deform(w):
        r.frame(v)
    render, render_cpu = n / (time.perf_counter() - t0), (time.process_time() - c0) / n
    writer = ObjWriter(template)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, v in enumerate(template.deform(w)):
            writer.write(Path(tmp) / f"{i:06d}.obj", v)
        obj = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        render_video(template, w, Path(tmp) / "v.mp4", width=size, height=size)  # worker + H.264
        video = n / (time.perf_counter() - t0)
    return {"render_fps": render, "render_cpu_ms": 1000 * render_cpu, "obj_fps": obj, "video_fps": video}


def heads(ict: Path) -> dict:
    """makehuman, plus ICT-FaceKit imported from its folder or .tar.xz when it is there."""
    found = {"makehuman": resolve("makehuman")}
    if not ict.exists():
        print(f"ICT-FaceKit not found at {ict}; benchmarking makehuman only", file=sys.stderr)
        return found
    from voca_cn.formats.ict import import_ict

    with tempfile.TemporaryDirectory() as tmp:
        folder = ict
        if ict.suffix == ".xz":
            with tarfile.open(ict) as tf:
                tf.extractall(tmp, filter="data")
            folder = Path(tmp) / "FaceXModel"
        found["ict"] = import_ict(folder)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ict", type=Path, default=SHARED_ICT, help="FaceXModel folder or its .tar.xz")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    heads_ = heads(args.ict)
    print(f"{'template':<10} {'vertices':>8} {'render fps':>11} {'CPU ms/frame':>12} {'OBJ fps':>8} {'MP4 fps':>8}  "
          f"({args.size}x{args.size}, {args.frames} frames)")
    for name, t in heads_.items():
        r = bench(t, args.frames, args.size)
        print(f"{name:<10} {t.n_vertices:>8} {r['render_fps']:>11.1f} {r['render_cpu_ms']:>12.2f} {r['obj_fps']:>8.1f} "
              f"{r['video_fps']:>8.1f}")


if __name__ == "__main__":
    main()

"""Rendering and OBJ-writing speed, frames per second, for makehuman and an imported ICT head.

    python benchmarks/render.py [--ict ../shared/assets/ict-facekit/FaceXModel.tar.xz] [--frames 300] [--split]

Runs in this process (it never imports TensorFlow, so Mesa is safe here). Animation: 300 frames of
a moving jaw and lips. Render = deform + normals + draw + read back a 512x512 RGB frame, as frames
per second of wall time and CPU milliseconds per frame (llvmpipe's threads included: the figure to
compare on a shared machine). ``--split``: where a frame's CPU goes (deform; ``Renderer.pose``: normals,
mouth and index buffer; ``Renderer.draw``: llvmpipe's drawing and read-back, with one drawing thread as
the preview workers run it) and how many fragments llvmpipe rasterises and keeps per frame (an
occlusion query), for the per-vertex and the per-fragment triangles.
"""

from __future__ import annotations

import argparse
import os
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


def split(template, n: int, size: int) -> dict[str, float]:
    """CPU ms per frame of each step of ``Renderer.frame`` and fragments per frame (rasterised,
    kept by the depth test) of the per-vertex and the per-fragment triangles."""
    r = Renderer(template, size, size)
    r.frame(template.vertices)
    query, cpu, frags = r.ctx.query(samples=True), np.zeros(3), np.zeros(4)
    w = animation(n)
    for i in range(n):
        t0 = time.process_time()
        if i % 64 == 0:  # deformed a chunk at a time, as the preview workers do
            chunk = template.deform(w[i:i + 64])
        t1 = time.process_time()
        n_lit = r.pose(chunk[i % 64])
        t2 = time.process_time()
        r.draw(n_lit)
        cpu += [t1 - t0, t2 - t1, time.process_time() - t2]
        groups = ((r.lit_vao, 0, n_lit), (r.vao, n_lit, len(r.faces) - n_lit))
        for k, func in enumerate(("<", "1")):  # "1": always passes, so every rasterised fragment counts
            r.fbo.clear(0.0, 0.0, 0.0, 1.0)
            r.ctx.depth_func = func
            for j, (vao, first, count) in enumerate(groups):
                with query:
                    vao.render(vertices=3 * count, first=3 * first)
                frags[2 * j + k] += query.samples
        r.ctx.depth_func = "<"
    ms = 1000 * cpu / n
    return {"deform_ms": ms[0], "pose_ms": ms[1], "draw_ms": ms[2], "lit_kept": frags[0] / n,
            "lit_rasterised": frags[1] / n, "frag_kept": frags[2] / n, "frag_rasterised": frags[3] / n}


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
    ap.add_argument("--split", action="store_true", help="CPU per step of a frame and fragments drawn")
    args = ap.parse_args()
    heads_ = heads(args.ict)
    if args.split:
        os.environ.setdefault("LP_NUM_THREADS", "1")  # as the preview workers draw (read when Mesa loads)
        print(f"{'template':<10} {'deform ms':>9} {'pose ms':>10} {'draw+read ms':>12} {'per-vertex frags':>22} "
              f"{'per-fragment frags':>22}  (kept / rasterised per frame)")
        for name, t in heads_.items():
            r = split(t, args.frames, args.size)
            print(f"{name:<10} {r['deform_ms']:>9.2f} {r['pose_ms']:>10.2f} {r['draw_ms']:>12.2f} "
                  f"{r['lit_kept']:>10.0f} / {r['lit_rasterised']:>9.0f} {r['frag_kept']:>10.0f} / {r['frag_rasterised']:>9.0f}")
        return
    print(f"{'template':<10} {'vertices':>8} {'render fps':>11} {'CPU ms/frame':>12} {'OBJ fps':>8} {'MP4 fps':>8}  "
          f"({args.size}x{args.size}, {args.frames} frames)")
    for name, t in heads_.items():
        r = bench(t, args.frames, args.size)
        print(f"{name:<10} {t.n_vertices:>8} {r['render_fps']:>11.1f} {r['render_cpu_ms']:>12.2f} {r['obj_fps']:>8.1f} "
              f"{r['video_fps']:>8.1f}")


if __name__ == "__main__":
    main()

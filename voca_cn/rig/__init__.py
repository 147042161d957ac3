"""Any head: rig a mesh of any topology (OBJ, PLY, glTF/GLB, VRM) with our template's ARKit shapes.

``rig_head(path)`` finds the face (``landmarks``), transfers the shapes (``transfer``) and returns a
Template; ``resolve(spec)`` is ``--template``: a known head as ``formats.resolve`` reads it, and any
other mesh rigged on the fly and cached in the user template folder under the file's hash.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.appearance import ALBEDO
from voca_cn.face.template import PARTS, Template
from voca_cn.rig.transfer import Head, rig

MESH_SUFFIXES = (".obj", ".ply")
MIN_TRIANGLES = 100  # fewer cannot make a face the tracker would find
CACHE_VERSION = 5  # bump when rigging changes: old cached rigs are then redone


def read_head(path: str | os.PathLike) -> Head:
    """Any head mesh as drawn: OBJ/PLY (with OBJ UVs) or every mesh of a glTF/GLB/VRM scene."""
    from voca_cn.formats import gltf
    from voca_cn.formats.avatar import read_scene
    from voca_cn.formats.obj import read_mesh, read_obj

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in gltf.SUFFIXES:
        a = read_scene(path)
        return Head(path.stem, a.vertices.astype(np.float64), a.faces, a.vertex_parts.copy(), a.vertex_colors,
                    licence=a.licence, provenance=a.provenance)
    if suffix not in MESH_SUFFIXES:
        raise VocaError(f"{path}: cannot rig a {suffix or 'suffix-less'} file; give an OBJ, PLY, glTF, GLB or VRM head")
    verts, faces = read_mesh(path)
    uv = faces_uv = None
    if suffix == ".obj":
        _, _, uv, faces_uv = read_obj(path)
    if len(faces) == 0:
        raise VocaError(f"{path} has no faces (a point cloud?); give a surface mesh of a head")
    return Head(path.stem, verts.astype(np.float64), faces, np.zeros(len(verts), np.uint8), None, uv, faces_uv,
                provenance=f"mesh {path.name}")


def rig_head(path: str | os.PathLike, name: str | None = None, why: str = "") -> Template:
    """Rig the head in ``path`` -> Template (metres, +Z forward, Y up), or a one-line VocaError saying
    why it cannot be (too few triangles, no face found, no lips). ``why``: what sent it here (shown)."""
    from voca_cn.formats.library import BUILTIN_DIR
    from voca_cn.render.preview import RenderMesh
    from voca_cn.rig.landmarks import Camera

    start = time.perf_counter()
    head = read_head(path)
    if len(head.faces) < MIN_TRIANGLES:
        raise VocaError(f"{why + '; ' if why else ''}{Path(path).name} has {len(head.faces)} triangles, too few "
                        "to be rigged as a head; give a head mesh (a face of a few hundred triangles or more)")
    if name:
        head.name = name
    template = Template.load(BUILTIN_DIR / "makehuman.npz")
    drawn = head.faces[(head.parts != PARTS.index("hidden"))[head.faces].all(1)]
    colors = head.colors if head.colors is not None else np.tile(ALBEDO["skin"], (len(head.vertices), 1))
    mesh = RenderMesh(drawn.astype(np.int32), np.zeros(len(head.vertices), np.uint8), colors.astype(np.float32))
    print(f"voca-cn: rigging {Path(path).name}{' (' + why + ')' if why else ''}: looking for the face ...",
          file=sys.stderr)
    with Camera() as cam:
        ours = cam.look(RenderMesh.from_template(template), template.vertices.astype(np.float64), [np.eye(3)])
        face = cam.look(mesh, head.vertices)
    if ours is None:
        raise VocaError("the face tracker finds no face on our own template; check the tracker install (setup.sh)")
    if face is None:
        raise VocaError(f"no face found on {path}: seen from every side, the face tracker sees no face; "
                        "give a head with a human-like face (eyes, nose, mouth) modelled")
    t = rig(head, face, template, ours)
    print(f"voca-cn: rigged {Path(path).name} in {time.perf_counter() - start:.1f} s "
          f"({t.n_vertices} vertices)", file=sys.stderr)
    return t


def rig_to_file(head: str | os.PathLike, name: str | None = None, out: str | os.PathLike | None = None) -> Path:
    """``voca-cn template rig``: rig ``head`` and save it as NAME (default: the file's name) in the user
    template folder, or at ``out`` -> the template file's path."""
    from voca_cn.formats.library import user_template_dir

    if not Path(head).is_file():
        raise VocaError(f"head {head} does not exist; give an OBJ, PLY, glTF, GLB or VRM file")
    name = name or Path(head).stem
    path = Path(out) if out else user_template_dir() / f"{name}.npz"
    rig_head(head, name=name).save(path)
    return path


def cached_rig(path: str | os.PathLike, why: str = "") -> Template:
    """``rig_head`` once per file content: kept in the user template folder as rig-HASH.npz."""
    from voca_cn.formats.library import user_template_dir

    path = Path(path)
    digest = hashlib.sha256(path.read_bytes() + f"rig{CACHE_VERSION}".encode()).hexdigest()[:16]
    cache = user_template_dir() / "rigged" / f"{path.stem}-{digest}.npz"
    if cache.is_file():
        return Template.load(cache)
    t = rig_head(path, why=why)
    t.save(cache)
    return t


def resolve(spec: str | os.PathLike) -> Template:
    """``--template``: a built-in or imported name, a template file, a head of a known topology, an
    ARKit-rigged avatar, or any other head mesh (rigged on the fly, cached)."""
    from voca_cn.formats import resolve as resolve_known
    from voca_cn.formats.avatar import NoMouthShapes
    from voca_cn.formats.library import UnknownTopology

    if isinstance(spec, Template):
        return spec
    try:
        return resolve_known(spec)
    except (UnknownTopology, NoMouthShapes) as e:
        return cached_rig(spec, why=str(e).split(";")[0])

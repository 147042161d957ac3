"""Test avatars written by Blender's glTF exporter (the second, independent writer), from built-in heads.

One Blender process (``tests/blender_tool.py`` under the project's Blender venv) writes every file:
- ``makehuman.glb``: the default head, one mesh, shape keys named ``blendShape1.jawOpen`` (Maya style);
- ``ict.glb``: ICT-FaceKit (where ../shared has it), PascalCase names (``JawOpen``);
- ``avatar.glb``: head + teeth + eyes as separate meshes, each with only the shapes that move it, names
  in three styles (``A25_Jaw_Open``, ``jawOpen``, ``eyeLookDown_L``) plus a non-ARKit ``mouthOpen``;
  the head skinned to an armature 1.5 m up, the teeth a scaled child of the armature, the eyes a
  rotated top-level node: every vertex lands at its template position + (0, 1.5, 0);
- ``avatar.vrm``: the head textured (uniform green image), turned to face -Z as VRM 0.x does, with
  the ``VRM`` extension added to the Blender-written JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voca_cn.core.arkit import NAMES
from voca_cn.face.template import PARTS

REPO = Path(__file__).resolve().parent.parent
BLENDER_PYTHON = REPO / ".venv-blender" / "bin" / "python"
LIFT = np.array([0.0, 1.5, 0.0])
GREEN = (0.15, 0.55, 0.25)


def blender(job: dict, work: Path) -> list:
    """Run one Blender job (see blender_tool.py) -> its read results."""
    if not BLENDER_PYTHON.is_file():
        if os.environ.get("CI"):
            raise AssertionError(f"{BLENDER_PYTHON} missing: setup.sh installs Blender (bpy) there")
        pytest.skip("Blender venv missing: run `bash setup.sh`")
    path = work / f"job{len(list(work.glob('job*.json')))}.json"
    path.write_text(json.dumps(job))
    proc = subprocess.run([str(BLENDER_PYTHON), str(REPO / "tests" / "blender_tool.py"), str(path)],
                          capture_output=True, text=True, timeout=300)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"Blender failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][7:])


def _matrix(translate=(0, 0, 0), rotate_y_deg=0.0, scale=1.0) -> np.ndarray:
    a = np.radians(rotate_y_deg)
    m = np.eye(4)
    m[:3, :3] = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]) * scale
    m[:3, 3] = translate
    return m


def _apply(m: np.ndarray, v: np.ndarray, linear_only=False) -> np.ndarray:
    return v @ m[:3, :3].T + (0 if linear_only else m[:3, 3])


def _object(arrays, name, t, verts_idx, style, local=np.eye(4), **extra) -> dict:
    """An object spec holding vertices ``verts_idx`` of template ``t``, stored as ``inv(local) @ v``:
    an object whose own transform is ``local`` puts them back at the template's position (plus
    whatever its parents add)."""
    sel = np.zeros(t.n_vertices, bool)
    sel[verts_idx] = True
    remap = np.cumsum(sel) - 1
    faces = t.faces[sel[t.faces].all(1)]
    inv = np.linalg.inv(local)
    arrays[f"{name}_v"] = _apply(inv, t.vertices[sel].astype(np.float64))
    arrays[f"{name}_f"] = remap[faces]
    shapes = []
    for k in np.where(np.abs(t.basis[:, sel]).max(axis=(1, 2)) > 0)[0]:
        arrays[f"{name}_s{k}"] = _apply(inv, t.basis[k][sel].astype(np.float64), linear_only=True)
        shapes.append([style(NAMES[k], k), f"{name}_s{k}"])
    if t.uv is not None and extra.get("texture"):
        arrays[f"{name}_uv"] = t.uv[t.faces_uv[sel[t.faces].all(1)]].reshape(-1, 2)
        extra["uv"] = f"{name}_uv"
    return {"name": name, "verts": f"{name}_v", "faces": f"{name}_f", "shapes": shapes,
            "matrix": local.tolist(), "color": [0.8, 0.5, 0.4, 1.0], **extra}


def _cc_style(name: str, k: int) -> str:
    """Character Creator style: A25_Jaw_Open."""
    words = "".join(" " + c if c.isupper() else c for c in name).split()
    return f"A{k + 1:02d}_" + "_".join(w.capitalize() for w in words)


def _side_style(name: str, k: int) -> str:
    """ICT style: eyeLookDown_L."""
    return name.replace("Left", "_L").replace("Right", "_R")


def build(work: Path, templates: dict) -> dict[str, Path]:
    """Write the Blender test avatars for {name: Template} (makehuman, optionally ict) -> paths."""
    import imageio.v3 as iio

    arrays, jobs = {}, []
    for name, t in templates.items():
        style = (lambda n, k: f"blendShape1.{n}") if name == "makehuman" else (lambda n, k: n[0].upper() + n[1:])
        jobs.append({"path": str(work / f"{name}.glb"), "objects": [
            _object(arrays, name, t, np.arange(t.n_vertices), style)]})
    t = templates["makehuman"]
    head = np.where(np.isin(t.vertex_parts, [PARTS.index("skin"), PARTS.index("mouth")]))[0]
    teeth = np.where(t.vertex_parts == PARTS.index("teeth"))[0]
    eyes = np.where(t.vertex_parts == PARTS.index("eye"))[0]
    lift = _matrix(LIFT)
    teeth_local = _matrix((0.0, -0.01, 0.02), scale=2.0)
    # skinned: a child of the armature (at LIFT) with an identity transform of its own
    head_spec = _object(arrays, "Head", t, head, lambda n, k: _cc_style(n, k) if k % 2 else n[0].upper() + n[1:],
                        skinned=True)
    arrays["mouthOpen"] = arrays[head_spec["shapes"][0][1]] * 0.5
    head_spec["shapes"].append(["mouthOpen", "mouthOpen"])  # a non-ARKit shape (Ready Player Me has one)
    jobs.append({"path": str(work / "avatar.glb"), "armature": LIFT.tolist(), "objects": [
        head_spec,
        {**_object(arrays, "Teeth", t, teeth, lambda n, k: n, local=teeth_local),
         "matrix": teeth_local.tolist(), "color": [0.9, 0.9, 0.85, 1.0], "parent": "rig"},
        {**_object(arrays, "Eyes", t, eyes, _side_style, local=_matrix(rotate_y_deg=90)),
         "matrix": (lift @ _matrix(rotate_y_deg=90)).tolist(), "color": [0.9, 0.9, 0.9, 1.0]},
    ]})
    texture = work / "green.png"
    iio.imwrite(texture, np.tile(np.array(GREEN) ** (1 / 2.2) * 255, (16, 16, 1)).astype(np.uint8))
    jobs.append({"path": str(work / "vrm0.glb"), "objects": [
        {**_object(arrays, "Face", t, np.arange(t.n_vertices), lambda n, k: n[0].upper() + n[1:],
                   texture=str(texture)), "matrix": _matrix(rotate_y_deg=180).tolist()}]})
    np.savez(work / "arrays.npz", **arrays)
    for j in jobs:
        j["arrays"] = str(work / "arrays.npz")
    blender({"export": jobs}, work)
    _add_vrm0_extension(work / "vrm0.glb", work / "avatar.vrm")
    return {p.stem if p.suffix == ".glb" else "vrm": p for p in
            [work / f"{n}.glb" for n in templates] + [work / "avatar.glb", work / "avatar.vrm"]}


def _add_vrm0_extension(src: Path, dst: Path) -> None:
    """What a VRM 0.x file adds to glTF: the ``VRM`` extension (meta, humanoid, blend shape master)."""
    from voca_cn.formats import gltf

    g = gltf.read(src)
    doc = dict(g.doc)
    doc["extensionsUsed"] = doc.get("extensionsUsed", []) + ["VRM"]
    doc["extensions"] = {"VRM": {"specVersion": "0.0", "exporterVersion": "voca_cn tests",
                                 "meta": {"title": "test head", "licenseName": "CC0"},
                                 "humanoid": {"humanBones": []}, "blendShapeMaster": {"blendShapeGroups": []}}}
    rewrite_glb(g, doc, dst)


def rewrite_glb(g, doc: dict, dst: Path) -> None:
    """Write a GLB with JSON ``doc`` and the binary buffer of parsed file ``g``."""
    from voca_cn.formats.gltf import _Builder

    dst.write_bytes(_Builder(doc, g.buffers[0]).glb())


def tiny_gltf(times=(0.0, 1 / 60, 2 / 60)) -> tuple[dict, bytes]:
    """A hand-made glTF small enough to mutate thousands of times: one triangle with a ``jawOpen``
    morph target, and an animation ``voca_cn`` keying its weight at ``times`` (0, 0.5, 1, ...).
    Returns (JSON document, binary buffer); :func:`write_gltf` writes it as .gltf or .glb."""
    pos = np.array([[0, 0, 0], [0.01, 0, 0], [0, 0.01, 0]], np.float32)
    delta = np.array([[0, -0.005, 0]] * 3, np.float32)
    t = np.asarray(times, np.float32)
    w = np.linspace(0, 1, len(t)).astype(np.float32)
    blobs = [pos.tobytes(), delta.tobytes(), t.tobytes(), w.tobytes()]
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
           "nodes": [{"mesh": 0, "name": "head"}],
           "meshes": [{"name": "head", "weights": [0.0], "extras": {"targetNames": ["jawOpen"]},
                       "primitives": [{"attributes": {"POSITION": 0}, "targets": [{"POSITION": 1}]}]}],
           "bufferViews": [{"buffer": 0, "byteOffset": int(o), "byteLength": len(b)} for o, b in zip(offsets, blobs)],
           "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                          "min": [0, 0, 0], "max": [0.01, 0.01, 0]},
                         {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC3"},
                         {"bufferView": 2, "componentType": 5126, "count": len(t), "type": "SCALAR"},
                         {"bufferView": 3, "componentType": 5126, "count": len(t), "type": "SCALAR"}],
           "animations": [{"name": "voca_cn", "samplers": [{"input": 2, "output": 3, "interpolation": "LINEAR"}],
                           "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}]}],
           "buffers": [{"byteLength": int(offsets[-1])}]}
    return doc, b"".join(blobs)


def write_gltf(path: Path, doc: dict, data: bytes, uri: str | None = None) -> Path:
    """``doc`` + ``data`` as a GLB (``.glb``/``.vrm`` suffix; the data in its BIN chunk) or a .gltf
    whose buffer is ``uri`` (default: the data embedded as a base64 data URI)."""
    import base64
    import copy
    import struct

    doc = copy.deepcopy(doc)
    if path.suffix != ".gltf":
        js = json.dumps(doc).encode()
        js += b" " * (-len(js) % 4)
        bn = data + b"\0" * (-len(data) % 4)
        path.write_bytes(struct.pack("<4sII", b"glTF", 2, 28 + len(js) + len(bn)) + struct.pack("<I4s", len(js), b"JSON")
                         + js + struct.pack("<I4s", len(bn), b"BIN\x00") + bn)
        return path
    if doc.get("buffers"):
        doc["buffers"][0]["uri"] = uri or "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    path.write_text(json.dumps(doc))
    return path

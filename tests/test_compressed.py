"""Compressed avatars as downloaded (meshopt, Draco, KTX2 textures) read like plain ones, and the
animation.glb we write from them needs no decoder (Khronos validator, Blender)."""

import copy
import json
import struct

import numpy as np
import pytest

from voca_cn.core.arkit import INDEX
from voca_cn.formats import gltf, resolve
from voca_cn.formats.avatar import load_avatar, read_scene, write_animation_glb


def _glb(doc: dict, binary: bytes, extra: tuple = ()) -> bytes:
    """A GLB of doc with ``binary`` as buffer 0 (and ``extra`` buffer entries after it)."""
    doc = {**doc, "buffers": [{"byteLength": len(binary)}, *extra]}
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    binary += b"\0" * (-len(binary) % 4)
    return (struct.pack("<4sII", b"glTF", 2, 28 + len(js) + len(binary)) + struct.pack("<I4s", len(js), b"JSON")
            + js + struct.pack("<I4s", len(binary), b"BIN\x00") + binary)


def _element_size(doc: dict, view: int) -> int:
    sizes = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
    a = next(a for a in doc["accessors"] if a.get("bufferView") == view)
    return sizes[a["componentType"]] * width[a["type"]]


def _meshopt(src, dst):
    """Every bufferView of src meshopt-compressed (as gltfpack writes it, with a fallback buffer)."""
    import meshopt

    g = gltf.read(src)
    doc = copy.deepcopy(g.doc)
    out = bytearray()
    for i, v in enumerate(doc["bufferViews"]):
        raw = g.buffers[v["buffer"]][v.get("byteOffset", 0): v.get("byteOffset", 0) + v["byteLength"]]
        stride = v.get("byteStride") or _element_size(doc, i)
        mode = "TRIANGLES" if v.get("target") == 34963 else "ATTRIBUTES"
        rows = np.frombuffer(raw, np.uint8).reshape(-1, stride)
        data = meshopt.encode_gltf_buffer(np.frombuffer(raw, np.uint32) if mode == "TRIANGLES" else rows, mode)
        out += b"\0" * (-len(out) % 4)
        v["extensions"] = {"EXT_meshopt_compression": {"buffer": 0, "byteOffset": len(out), "byteLength": len(data),
                                                       "byteStride": stride, "count": len(raw) // stride,
                                                       "mode": mode}}
        out += data
        v.update(buffer=1, byteOffset=0)
    doc["extensionsUsed"] = doc["extensionsRequired"] = ["EXT_meshopt_compression"]
    fallback = {"byteLength": sum(v["byteLength"] for v in g.doc["bufferViews"]),  # no bytes of its own
                "extensions": {"EXT_meshopt_compression": {"fallback": True}}}
    dst.write_bytes(_glb(doc, bytes(out), (fallback,)))


def test_meshopt_avatar_reads_like_the_plain_one_and_exports_plain(tmp_path):
    pytest.importorskip("meshopt", reason="pip install meshopt (setup.sh)")
    plain = tmp_path / "plain.glb"
    write_animation_glb(plain, resolve("makehuman"), np.zeros((2, 52), np.float32), 60)
    packed = tmp_path / "packed.glb"
    _meshopt(plain, packed)
    a, b = load_avatar(plain), load_avatar(packed)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.basis, b.basis)
    w = np.zeros((30, 52), np.float32)
    w[:, INDEX["jawOpen"]] = np.linspace(0, 1, 30)
    write_animation_glb(tmp_path / "out.glb", b, w, 30)
    doc = gltf.read(tmp_path / "out.glb").doc
    assert "EXT_meshopt_compression" not in json.dumps(doc), "what we write needs no decoder"
    from test_gltf import _validate

    assert _validate(tmp_path / "out.glb")["numErrors"] == 0


def test_draco_mesh_is_decoded(tmp_path):
    DracoPy = pytest.importorskip("DracoPy", reason="pip install dracopy (setup.sh)")
    t = resolve("makehuman")
    data = DracoPy.encode(t.vertices, t.faces, quantization_bits=16)
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
           "bufferViews": [{"buffer": 0, "byteLength": len(data)}],
           "accessors": [{"componentType": 5126, "count": t.n_vertices, "type": "VEC3",
                          "min": t.vertices.min(0).tolist(), "max": t.vertices.max(0).tolist()},
                         {"componentType": 5125, "count": t.faces.size, "type": "SCALAR"}],
           "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "extensions": {
               "KHR_draco_mesh_compression": {"bufferView": 0, "attributes": {"POSITION": 0}}}}]}],
           "extensionsUsed": ["KHR_draco_mesh_compression"], "extensionsRequired": ["KHR_draco_mesh_compression"]}
    (tmp_path / "d.glb").write_bytes(_glb(doc, data))
    scene = read_scene(tmp_path / "d.glb")
    assert len(scene.faces) == len(t.faces)
    got = np.sort(scene.vertices[scene.faces].reshape(-1, 3).round(3), axis=0)
    want = np.sort(t.vertices[t.faces].reshape(-1, 3).round(3), axis=0)
    np.testing.assert_allclose(got, want, atol=2e-3)

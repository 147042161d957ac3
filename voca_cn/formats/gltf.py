"""The glTF 2.0 / GLB / VRM container: the JSON and its buffers read and written, accessors decoded,
the scene's node transforms, morph-target names, and animation curves read back (``read_weights``).
Avatars as templates and ``animation.glb`` are built on it in ``avatar``.

No library does the part that is ours: pygltflib models the JSON but decodes no accessors, and
trimesh's loader drops morph targets and skins; the container itself is a few lines.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES, match
from voca_cn.core.untrusted import confined, expect, read_json
from voca_cn.formats import compressed
from voca_cn.formats.keyframes import frame_count, uniform

SUFFIXES = (".glb", ".gltf", ".vrm")
MAX_ELEMENTS = 2**24  # elements per accessor: 16.7 M vertices or keys, far beyond any avatar or take
ANIMATION_NAME = "voca_cn"
_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


# =============================================================================== container
@dataclass
class Gltf:
    """A parsed glTF: its JSON and its buffers (bytes), resolved from GLB chunks, data URIs or files."""

    doc: dict
    buffers: list[bytes]
    path: Path
    textures: dict = field(default_factory=dict, repr=False)  # texture index -> decoded image or None

    def fail(self, what: str) -> VocaError:
        return VocaError(f"{self.path}: {what}; export the file again (glTF 2.0 binary .glb, or .gltf/.vrm)")


def read(path: str | os.PathLike) -> Gltf:
    """Parse a .glb/.gltf/.vrm file (GLB container or JSON) and load its buffers.

    Buffers and images come only from the GLB's binary chunk, data URIs, or files inside the
    file's own folder (:func:`voca_cn.core.untrusted.confined`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise VocaError(f"cannot read {path} ({e.strerror}); check the path") from None
    if raw[:4] == b"glTF":
        doc, bin_chunk = _parse_glb(raw, path)
    else:
        try:
            doc, bin_chunk = read_json(raw, str(path), _FIX), None
        except VocaError:
            doc = None
    asset = doc.get("asset") if isinstance(doc, dict) else None
    if not isinstance(asset, dict) or not str(asset.get("version", "")).startswith("2"):
        raise VocaError(f"{path} is not a glTF 2.0 file (no GLB header nor glTF JSON with asset.version 2.0); "
                        "export the avatar as glTF 2.0 (.glb, .gltf or .vrm)")
    g = Gltf(doc, [], path)
    try:
        _load_buffers(g, bin_chunk)
        compressed.decompress(g.doc, g.buffers, str(path))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:  # JSON of the wrong shape
        raise g.fail(f"malformed glTF JSON ({type(e).__name__}: {str(e)[:120]})") from None
    return g


_FIX = "export the file again (glTF 2.0 binary .glb, or .gltf/.vrm)"


def _load_buffers(g: Gltf, bin_chunk: bytes | None) -> None:
    doc = g.doc
    for key in ("extensionsRequired", "extensionsUsed"):  # read or ignored; compressed meshes are decoded later
        expect(doc.get(key, []), list, f"{g.path}: {key}")
    stand_ins = compressed.fallback_buffers(doc)
    for i, b in enumerate(expect(doc.get("buffers", []), list, f"{g.path}: buffers")):
        expect(b, dict, f"{g.path}: buffer {i}")
        if i in stand_ins and "uri" not in b and (i != 0 or bin_chunk is None):
            g.buffers.append(b"")  # meshopt's fallback: nothing reads it once decoded
            continue
        data = _buffer_bytes(b, i, bin_chunk, g)
        declared = expect(b.get("byteLength", 0), int, f"{g.path}: buffer {i}'s byteLength")
        if len(data) < declared:
            raise g.fail(f"buffer {i} holds {len(data)} bytes but declares {declared} (broken buffer)")
        g.buffers.append(data)


def _parse_glb(raw: bytes, path: Path) -> tuple[dict, bytes | None]:
    """GLB container -> (JSON dict, BIN chunk or None)."""
    if len(raw) < 20:
        raise VocaError(f"{path} is a truncated GLB (only {len(raw)} bytes); export it again")
    _, version, length = struct.unpack_from("<4sII", raw)
    if version != 2 or length > len(raw):
        raise VocaError(f"{path}: GLB version {version} or length {length} (file has {len(raw)} bytes) is "
                        "wrong (broken or truncated file); export it again as glTF 2.0")
    chunks, pos = {}, 12
    while pos + 8 <= length:
        size, kind = struct.unpack_from("<I4s", raw, pos)
        chunks.setdefault(kind, raw[pos + 8: pos + 8 + size])
        pos += 8 + size
    if pos != length:
        raise VocaError(f"{path}: GLB chunks overrun the file (broken or truncated); export it again")
    if b"JSON" not in chunks:
        raise VocaError(f"{path}: the GLB has no JSON chunk; export it again")
    return read_json(chunks[b"JSON"], f"{path}: the GLB's JSON chunk", _FIX), chunks.get(b"BIN\x00")


def _buffer_bytes(b: dict, i: int, bin_chunk: bytes | None, g: Gltf) -> bytes:
    if b.get("uri") is None:
        if i != 0 or bin_chunk is None:
            raise g.fail(f"buffer {i} has no uri and there is no GLB binary chunk (broken buffer)")
        return bin_chunk
    return uri_bytes(g, b["uri"], f"buffer {i}'s uri")


def uri_bytes(g: Gltf, uri: object, what: str) -> bytes:
    """The bytes a buffer or image ``uri`` names: a base64 data URI, or a file inside the glTF's
    own folder (nothing else is ever read: ``../`` or absolute paths are refused)."""
    from urllib.parse import unquote

    expect(uri, str, f"{g.path}: {what}")
    if uri.startswith("data:"):
        try:
            return base64.b64decode(uri.split(",", 1)[1], validate=True)
        except (IndexError, ValueError):
            raise g.fail(f"{what} is a data URI that is not valid base64 (broken buffer)") from None
    file = confined(g.path.parent, unquote(uri), f"{g.path.name}: {what}")
    try:
        return file.read_bytes()
    except OSError:
        raise g.fail(f"{what} names {uri[:80]!r}, which is missing or unreadable next to the file "
                     "(broken buffer)") from None


def accessor(g: Gltf, index: int) -> np.ndarray:
    """Decode accessor ``index`` -> (count, width) float32 (normalized integers scaled, sparse applied),
    or the raw integers for non-normalized integer data (indices, joints)."""
    try:
        a = g.doc["accessors"][index]
        dtype, width, count = np.dtype(_COMPONENTS[a["componentType"]]), _WIDTH[a["type"]], int(a["count"])
    except (IndexError, KeyError, TypeError, ValueError):
        raise g.fail(f"accessor {index} is missing or of an unsupported type") from None
    if not 0 <= count <= MAX_ELEMENTS:
        raise g.fail(f"accessor {index} declares {count} elements (0-{MAX_ELEMENTS} allowed)")
    out = (_view_array(g, a["bufferView"], a.get("byteOffset", 0), dtype, width, count, index)
           if "bufferView" in a else np.zeros((count, width), dtype))
    if "sparse" in a:
        out = out.copy()
        s = a["sparse"]
        n = int(s["count"])
        idx = _view_array(g, s["indices"]["bufferView"], s["indices"].get("byteOffset", 0),
                          np.dtype(_COMPONENTS[s["indices"]["componentType"]]), 1, n, index)[:, 0]
        vals = _view_array(g, s["values"]["bufferView"], s["values"].get("byteOffset", 0), dtype, width, n, index)
        if n and idx.max() >= count:
            raise g.fail(f"accessor {index}'s sparse indices run past its {count} elements")
        out[idx.astype(np.int64)] = vals
    if a.get("normalized") or dtype == np.float32:
        out = out.astype(np.float32)
        if a.get("normalized"):
            info = np.iinfo(dtype)
            out = np.maximum(out / info.max, -1.0)
    return out


def _view_array(g: Gltf, view_index: int, offset: int, dtype: np.dtype, width: int, count: int,
                acc: int) -> np.ndarray:
    """(count, width) array read from a bufferView with its stride, bounds checked."""
    try:
        v = g.doc["bufferViews"][view_index]
        buf = g.buffers[v["buffer"]]
    except (IndexError, KeyError, TypeError):
        raise g.fail(f"accessor {acc} points at a missing bufferView/buffer (broken buffer)") from None
    elem = dtype.itemsize * width
    stride = expect(v.get("byteStride") or elem, int, f"{g.path}: bufferView {view_index}'s byteStride")
    view_start = expect(v.get("byteOffset", 0), int, f"{g.path}: bufferView {view_index}'s byteOffset")
    start = view_start + expect(offset, int, f"{g.path}: accessor {acc}'s byteOffset")
    end = start + (stride * (count - 1) + elem if count else 0)
    if min(view_start, start, stride - elem + 1) < 0 or end > view_start + v["byteLength"] or end > len(buf) \
            or start % dtype.itemsize:
        raise g.fail(f"accessor {acc} reads bytes {start}-{end} beyond its bufferView or buffer "
                     f"({len(buf)} bytes) (broken buffer)")
    return np.ndarray((count, width), dtype, buffer=buf, offset=start, strides=(stride, dtype.itemsize))


# =============================================================================== scene
def node_matrices(doc: dict) -> dict[int, np.ndarray]:
    """World matrix (4, 4) float64 of every node reachable from the default scene."""
    nodes = doc.get("nodes", [])
    scenes = doc.get("scenes", [])
    roots = scenes[doc.get("scene", 0)].get("nodes", []) if scenes else [
        i for i in range(len(nodes)) if not any(i in n.get("children", []) for n in nodes)]
    world: dict[int, np.ndarray] = {}
    stack = [(r, np.eye(4)) for r in roots]
    while stack:
        i, parent = stack.pop()
        if i in world:
            continue  # a cycle or a node shared by two parents: the file is invalid, keep the first
        world[i] = parent @ _local(nodes[i])
        stack.extend((c, world[i]) for c in nodes[i].get("children", []))
    return world


def _local(node: dict) -> np.ndarray:
    if "matrix" in node:
        return np.array(node["matrix"], float).reshape(4, 4).T  # glTF stores column-major
    x, y, z, w = node.get("rotation", (0, 0, 0, 1))
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = r * np.asarray(node.get("scale", (1, 1, 1)), float)
    m[:3, 3] = node.get("translation", (0, 0, 0))
    return m


def target_names(mesh: dict) -> list[str]:
    """Morph target names: ``mesh.extras.targetNames`` (Blender, three.js, UniVRM), else the first
    primitive's ``extras.targetNames``."""
    names = mesh.get("extras", {}).get("targetNames")
    if names is None and mesh.get("primitives"):
        names = mesh["primitives"][0].get("extras", {}).get("targetNames")
    return [str(n) for n in names] if isinstance(names, list) else []


# =============================================================================== writing
class _Builder:
    """Appends arrays to one binary buffer as bufferViews + accessors of a glTF JSON document."""

    def __init__(self, doc: dict, data: bytes = b""):
        self.doc, self.bin = doc, bytearray(data)

    def view(self, data: bytes, target: int | None = None) -> int:
        self.bin += b"\0" * (-len(self.bin) % 4)
        v = {"buffer": 0, "byteOffset": len(self.bin), "byteLength": len(data)}
        if target:
            v["target"] = target
        self.bin += data
        self.doc.setdefault("bufferViews", []).append(v)
        return len(self.doc["bufferViews"]) - 1

    def accessor(self, array: np.ndarray, kind: str, bounds: bool = False, target: int | None = None) -> int:
        """Store (count, width) float32 or uint32 data; POSITION and animation inputs need bounds."""
        a = np.ascontiguousarray(array)
        ctype = 5126 if a.dtype == np.float32 else 5125
        acc = {"bufferView": self.view(a.tobytes(), target), "componentType": ctype,
               "count": int(len(a)), "type": kind}
        if bounds:
            flat = a.reshape(len(a), -1)
            acc["min"], acc["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        self.doc.setdefault("accessors", []).append(acc)
        return len(self.doc["accessors"]) - 1

    def glb(self) -> bytes:
        self.doc["buffers"] = [{"byteLength": len(self.bin)}]
        js = json.dumps(self.doc, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        bn = bytes(self.bin) + b"\0" * (-len(self.bin) % 4)
        total = 12 + 8 + len(js) + 8 + len(bn)
        return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
                + struct.pack("<I4s", len(bn), b"BIN\x00") + bn)


def arkit_targets(mesh: dict, note=None) -> list[int]:
    """ARKit index (or -1) per morph target of a mesh. Several targets naming one shape: the best
    match wins; halves of a split shape (``browInnerUp_L``/``_R``) are driven together; equal
    non-half matches are ambiguous and left out (``note`` gets a message)."""
    found = [match(n) for n in target_names(mesh)]
    best: dict[int, int] = {}
    for m in found:
        if m:
            best[m[0]] = min(best.get(m[0], 9), m[1])
    out = []
    for n, m in zip(target_names(mesh), found):
        ok = m is not None and m[1] == best[m[0]]
        ties = sum(1 for x in found if x == m) if ok else 0
        if ok and ties > 1 and m[1] < 2:
            if note:
                note(f"morph target {n!r} is one of {ties} that could be {NAMES[m[0]]}; left out")
            ok = False
        out.append(m[0] if ok else -1)
    return out


# =============================================================================== reading curves
def read_weights(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Curves of a GLB's ``voca_cn`` animation (else its first ``weights`` animation) -> (weights
    (T, 52) float32 in ARKit order, fps). Each ARKit shape takes the first channel that drives it."""
    g = read(path)
    try:
        return _curves(g)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        raise g.fail(f"malformed animation ({type(e).__name__}: {e})") from None


def _curves(g: Gltf) -> tuple[np.ndarray, float]:
    anims = g.doc.get("animations", [])
    anims = sorted(anims, key=lambda an: an.get("name") != ANIMATION_NAME)
    for anim in anims:
        chans = [c for c in anim.get("channels", []) if c.get("target", {}).get("path") == "weights"]
        if chans:
            break
    else:
        raise VocaError(f"{g.path} has no morph-weight animation; give an animation.glb from voca-cn --export glb")
    times = accessor(g, anim["samplers"][chans[0]["sampler"]]["input"])[:, 0]
    out = np.zeros((frame_count(len(times), str(g.path)), 52), np.float32)
    done = set()
    for c in chans:
        s = anim["samplers"][c["sampler"]]
        mesh = g.doc["meshes"][g.doc["nodes"][c["target"]["node"]]["mesh"]]
        arkit = arkit_targets(mesh)
        vals = accessor(g, s["output"]).reshape(len(times), len(arkit))
        for j, k in enumerate(arkit):
            if k >= 0 and k not in done:
                out[:, k] = vals[:, j]
                done.add(k)
    if not done:
        raise VocaError(f"{g.path}: its morph-weight animation drives no morph target named as an ARKit "
                        "shape (jawOpen, mouthClose, ...); give an animation.glb from voca-cn --export glb")
    return uniform(times, out, str(g.path))

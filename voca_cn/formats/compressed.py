"""Compressed glTF made plain: EXT_meshopt_compression / KHR_meshopt_compression bufferViews
(PyPI ``meshopt``) and KHR_draco_mesh_compression primitives (PyPI ``dracopy``) are decoded into an
extra buffer and the document rewritten to point at it, so everything downstream (avatar reading,
``animation.glb``) sees an ordinary glTF and the file we write requires no compression extension.
Textures only a GPU transcoder reads (KHR_texture_basisu / KTX2) are replaced in what we write by
their colour (a white pixel times the material's factor), so Blender and three.js open the file.
KHR_mesh_quantization needs nothing here: ``gltf.accessor`` reads integer attributes.
"""

from __future__ import annotations

import numpy as np

from voca_cn import VocaError

MESHOPT = ("EXT_meshopt_compression", "KHR_meshopt_compression")
DRACO = "KHR_draco_mesh_compression"
BASISU = "KHR_texture_basisu"
_DTYPES = {np.dtype(np.int8): 5120, np.dtype(np.uint8): 5121, np.dtype(np.int16): 5122,
           np.dtype(np.uint16): 5123, np.dtype(np.uint32): 5125, np.dtype(np.float32): 5126}
_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}


def fallback_buffers(doc: dict) -> set[int]:
    """Buffers that only stand in for meshopt-compressed data (``fallback: true``, possibly no bytes)."""
    return {i for i, b in enumerate(doc.get("buffers", []))
            if any(b.get("extensions", {}).get(e, {}).get("fallback") for e in MESHOPT)}


def decompress(doc: dict, buffers: list[bytes], where: str) -> None:
    """Decode every compressed bufferView and primitive of ``doc`` in place; the decoded bytes go to
    a new buffer appended to ``buffers``. Raises VocaError naming the missing decoder."""
    used = set(doc.get("extensionsUsed", [])) | set(doc.get("extensionsRequired", []))
    if not used & {*MESHOPT, DRACO}:
        return
    out = bytearray()
    new = len(buffers)
    if used & set(MESHOPT):
        _meshopt(doc, buffers, out, new, where)
    if DRACO in used:
        _draco(doc, buffers, out, new, where)
    buffers.append(bytes(out))
    doc.setdefault("buffers", []).append({"byteLength": len(out)})
    for key in ("extensionsUsed", "extensionsRequired"):
        if key in doc:
            doc[key] = [e for e in doc[key] if e not in (*MESHOPT, DRACO)]


def _append(out: bytearray, data: bytes) -> int:
    out.extend(b"\0" * (-len(out) % 16))
    start = len(out)
    out.extend(data)
    return start


def _meshopt(doc: dict, buffers: list[bytes], out: bytearray, new: int, where: str) -> None:
    try:
        import meshopt
    except ImportError:
        raise VocaError(f"{where} is meshopt-compressed; install the decoder: pip install meshopt") from None
    for v in doc.get("bufferViews", []):
        ext = next((v["extensions"][e] for e in MESHOPT if e in v.get("extensions", {})), None)
        if ext is None:
            continue
        src = buffers[ext["buffer"]][ext.get("byteOffset", 0): ext.get("byteOffset", 0) + ext["byteLength"]]
        try:
            data = meshopt.decode_gltf_buffer(src, int(ext["count"]), int(ext["byteStride"]), ext["mode"],
                                              ext.get("filter", "NONE"))
        except (ValueError, RuntimeError, KeyError) as e:
            raise VocaError(f"{where}: a meshopt-compressed bufferView does not decode ({e}); "
                            "the file is broken") from None
        raw = np.ascontiguousarray(data).tobytes()
        v.update(buffer=new, byteOffset=_append(out, raw), byteLength=len(raw))
        if ext["mode"] == "ATTRIBUTES":
            v["byteStride"] = int(ext["byteStride"])
        del v["extensions"]


def _draco(doc: dict, buffers: list[bytes], out: bytearray, new: int, where: str) -> None:
    try:
        import DracoPy
    except ImportError:
        raise VocaError(f"{where} is Draco-compressed; install the decoder: pip install dracopy") from None
    views, accessors = doc.get("bufferViews", []), doc.setdefault("accessors", [])
    for mesh in doc.get("meshes", []):
        for prim in mesh.get("primitives", []):
            ext = prim.get("extensions", {}).pop(DRACO, None)
            if ext is None:
                continue
            v = views[ext["bufferView"]]
            data = buffers[v["buffer"]][v.get("byteOffset", 0): v.get("byteOffset", 0) + v["byteLength"]]
            try:
                m = DracoPy.decode(data)
            except Exception as e:  # noqa: BLE001 - DracoPy raises its own and plain ones
                raise VocaError(f"{where}: a Draco-compressed mesh does not decode ({e}); the file is broken") from None
            for name, uid in ext.get("attributes", {}).items():
                attr = m.get_attribute_by_unique_id(int(uid))
                if attr is None:
                    raise VocaError(f"{where}: Draco attribute {name} (id {uid}) is missing; the file is broken")
                prim["attributes"][name] = _accessor(doc, out, new, np.asarray(attr["data"]),
                                                     accessors[prim["attributes"][name]])
            faces = np.asarray(m.faces, np.uint32).reshape(-1, 1)
            prim["indices"] = _accessor(doc, out, new, faces, {"componentType": 5125, "type": "SCALAR"})


def _accessor(doc: dict, out: bytearray, new: int, values: np.ndarray, declared: dict) -> int:
    """A new accessor for decoded values, in the component type the file declared for them."""
    values = values.reshape(len(values), -1)
    dtype = next((d for d, c in _DTYPES.items() if c == declared.get("componentType")), np.dtype(np.float32))
    values = np.ascontiguousarray(values.astype(dtype))
    doc["bufferViews"].append({"buffer": new, "byteOffset": _append(out, values.tobytes()),
                               "byteLength": values.nbytes})
    acc = {"bufferView": len(doc["bufferViews"]) - 1, "componentType": _DTYPES[dtype], "count": len(values),
           "type": _TYPES[values.shape[1]]}
    if declared.get("normalized"):
        acc["normalized"] = True
    if declared.get("min") is not None and values.shape[1] == len(declared["min"]):
        acc.update(min=declared["min"], max=declared["max"])
    doc["accessors"].append(acc)
    return len(doc["accessors"]) - 1


def plain_textures(doc: dict, white_png: int) -> None:
    """In a document we write: every KTX2-only texture samples image ``white_png`` instead (its material
    keeps its colour factor), and the basisu extension is dropped."""
    for t in doc.get("textures", []):
        ext = t.get("extensions", {})
        if BASISU in ext:
            del ext[BASISU]
            if "source" not in t:
                t["source"] = white_png
            if not ext:
                del t["extensions"]
    for key in ("extensionsUsed", "extensionsRequired"):
        if key in doc:
            doc[key] = [e for e in doc[key] if e != BASISU]
            if not doc[key]:
                del doc[key]

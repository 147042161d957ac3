"""PC2 point cache (``--export pc2``): every frame's vertex positions in one compact binary file, the
vertex cache that Blender (Mesh Cache modifier), 3ds Max (Point Cache modifier), Houdini and Cinema 4D
play on a base mesh of the same vertex order.

``animation.pc2`` (little-endian): a 32-byte header, ``b"POINTCACHE2\\0"``, int32 version 1, int32
vertex count N, float32 start frame 0, float32 sampling 1 (one sample per frame), int32 frame count T;
then T x N x 3 float32 positions in metres, template vertex order, Y up, the face looking +Z (the OBJ
sequence's axes). 12 N bytes a frame: 56 kB for makehuman, against ~0.5 MB of OBJ text.

``animation.obj`` beside it is the base mesh (the neutral head: vertex order, UVs, faces) to put the cache
on. The file is written frame by frame, a chunk at a time, so memory stays bounded whatever the length.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from voca_cn.face.template import Template
from voca_cn.formats.obj import ObjWriter, deformed_chunks

SIGNATURE = b"POINTCACHE2\0"
HEADER = struct.Struct("<12siiffi")  # signature, version, vertices, start frame, sampling, frames


def write_pc2(path: Path, template: Template, weights: np.ndarray, fps: float, head: np.ndarray | None = None) -> None:
    """``path`` (animation.pc2) for weights (T, 52) on ``template``, the head turned by ``head`` (T, 3)
    radians when given, and its base mesh ``path``.obj. ``fps`` is not stored: PC2 counts frames (the
    scene's rate plays them)."""
    with open(path, "wb") as fh:
        fh.write(HEADER.pack(SIGNATURE, 1, template.n_vertices, 0.0, 1.0, len(weights)))
        for _, vertices in deformed_chunks(template, weights, head):
            fh.write(vertices.astype("<f4", copy=False).tobytes())
    ObjWriter(template).write(path.with_suffix(".obj"), template.vertices)


def read_pc2(path: Path) -> np.ndarray:
    """The positions (T, N, 3) float32 of a PC2 file, memory-mapped (read only)."""
    with open(path, "rb") as fh:
        signature, _, n, _, _, t = HEADER.unpack(fh.read(HEADER.size))
    if signature != SIGNATURE:
        raise ValueError(f"{path} is not a PC2 point cache")
    return np.memmap(path, "<f4", "r", offset=HEADER.size, shape=(t, n, 3))

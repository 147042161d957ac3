"""Files in and out, one module per format. The registries below are the only dispatch on a format
name or suffix: adding a format is one module and one line here.

- ``EXPORTS``: ``--export`` name -> the file it writes into an output folder, its writer
  ``write(path, template, weights (T, 52), fps, head (T, 3) radians)`` and its reader
  ``read(path) -> (weights, fps)`` (None for a vertex cache: positions do not give the weights back).
- ``ANIMATION_READERS``: suffix -> reader, for ``voca-cn render --animation`` and ``voca_cn.load``.
- ``TEMPLATE_READERS``: suffix -> ``read(path) -> Template``, for ``--template PATH``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.formats import animation, avatar, curves, gltf, keyframes, library, pc2

Weights = tuple[np.ndarray, float]  # (T, 52) float32 ARKit weights, fps


@dataclass(frozen=True)
class Export:
    file: str
    write: Callable[[Path, Template, np.ndarray, float, np.ndarray], None]
    read: Callable[[Path], Weights] | None


EXPORTS: dict[str, Export] = {
    "glb": Export("animation.glb", avatar.write_animation_glb, gltf.read_weights),
    "livelink": Export("livelink.csv", lambda path, t, w, fps, head: curves.write_livelink(path, w, fps, head),
                       curves.read_livelink),
    "arkit-json": Export("arkit.json", lambda path, t, w, fps, head: curves.write_arkit_json(path, w, fps, head),
                         curves.read_arkit_json),
    "pc2": Export("animation.pc2", pc2.write_pc2, None),
}
ANIMATION_READERS: dict[str, Callable[[Path], Weights]] = {
    ".npz": animation.read_npz, **{s: gltf.read_weights for s in gltf.SUFFIXES},
    ".csv": curves.read_livelink, ".json": curves.read_arkit_json,
}
TEMPLATE_READERS: dict[str, Callable[[Path], Template]] = {
    ".npz": Template.load, **{s: avatar.load_avatar for s in gltf.SUFFIXES},
    ".obj": library.edited_head, ".ply": library.edited_head,
}


def parse_exports(value: object, known: tuple[str, ...] = tuple(EXPORTS)) -> tuple[str, ...]:
    """``--export`` / a manifest's ``export``: 'glb,livelink' or ["glb", ...]; 'none' for nothing.
    -> sorted unique names, each one of ``known``."""
    items = value if isinstance(value, list) else re.split(r"[\s,;]+", str(value).strip())
    names = tuple(sorted({str(x).strip().lower() for x in items if str(x).strip()} - {"none"}))
    bad = [n for n in names if n not in known]
    if bad:
        raise VocaError(f"unknown export(s) {', '.join(map(repr, bad))}; choose from {', '.join(known)} or none")
    return names


def write_export(name: str, directory: Path, template: Template, weights: np.ndarray, fps: float,
                 head: np.ndarray | None = None) -> Path:
    """Write one ``--export`` format of weights (T, 52) and head rotation (T, 3) radians (None:
    still) at ``fps`` into directory -> its path."""
    if name not in EXPORTS:
        raise VocaError(f"unknown export {name!r}; choose from {', '.join(EXPORTS)}")
    path = directory / EXPORTS[name].file
    head = np.zeros((len(weights), 3), np.float32) if head is None else head
    EXPORTS[name].write(path, template, weights, fps, head)
    return path


def load_animation(path: str | os.PathLike) -> Weights:
    """Read ``animation.npz`` or any export (``animation.glb``, ``livelink.csv``, ``arkit.json``)
    -> (weights (T, 52) float32, fps), validated. An unknown suffix is read as npz."""
    path = Path(path)
    if not path.is_file():
        raise VocaError(f"animation {path} does not exist; give the animation.npz from `voca-cn animate`")
    weights, fps = ANIMATION_READERS.get(path.suffix.lower(), animation.read_npz)(path)
    if weights.ndim != 2 or weights.shape[1] != 52:
        raise VocaError(f"animation {path}: weights have shape {weights.shape}, expected (T, 52) "
                        "in ARKit order (voca_cn.core.arkit.NAMES)")
    if len(weights) == 0:
        raise VocaError(f"animation {path} has no frames")
    if not np.isfinite(weights).all():
        raise VocaError(f"animation {path} has non-finite weights (NaN/inf); regenerate it")
    return weights, keyframes.rate(fps, f"animation {path}")


def resolve(spec: str | os.PathLike) -> Template:
    """Turn ``--template`` into a Template: a built-in or imported name (``library``), or a file
    read by its suffix (``TEMPLATE_READERS``: template ``.npz``, an ARKit-rigged avatar, an edited
    OBJ/PLY of a known topology).

    A name wins over a same-named file or folder in the current directory (``makehuman``), with
    a note; ``./makehuman`` (anything that looks like a path) is always the file."""
    known = library.known_templates()
    spec_s = str(spec)
    path = Path(spec_s)
    if spec_s in known:
        if path.exists():
            print(f"voca-cn: note: using the template named {spec_s!r}, not ./{spec_s}; "
                  f"write ./{spec_s} for the file", file=sys.stderr)
        return Template.load(known[spec_s])
    choices = f"give one of {sorted(known)} or a path to a {'/'.join(TEMPLATE_READERS)} file"
    if "\0" in spec_s or not path.exists():
        raise VocaError(f"template {spec_s[:80]!r} not found: {choices}")
    if path.is_dir():
        raise VocaError(f"template {spec_s!r} is a folder, not a template: {choices} "
                        "(an ICT-FaceKit folder: voca-cn template import-ict first)")
    return TEMPLATE_READERS.get(path.suffix.lower(), library.edited_head)(path)

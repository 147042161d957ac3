"""``animation.npz``: weights (T, 52) float32 in ARKit order, names, fps, the template id and the
head rotation ``head`` (T, 3) float32 radians (yaw, pitch, roll about the head's Y up, X left, Z
forward axes, R = Ry Rx Rz: yaw > 0 turns the face to the character's left, pitch > 0 nods down,
roll > 0 tilts toward its right shoulder; zeros for a still head); and reading any animation file
back (the exports are read through the registry in ``formats``)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES
from voca_cn.core.files import one_line, save_npz
from voca_cn.face.template import Template


def template_id(template: Template) -> str:
    """Name plus a hash of the neutral vertices: tells an edited or identity-baked head apart."""
    digest = hashlib.sha1(np.ascontiguousarray(template.vertices, np.float32).tobytes()).hexdigest()
    return f"{template.name}@{digest[:12]}"


def save_animation(path: str | os.PathLike, weights: np.ndarray, fps: float, template: Template,
                   head: np.ndarray | None = None) -> None:
    """``animation.npz``: weights (T, 52) float32, names, fps, template id, head (T, 3) float32
    radians; the same bytes for the same content (see :func:`save_npz`)."""
    head = np.zeros((len(weights), 3), np.float32) if head is None else np.asarray(head, np.float32)
    save_npz(path, weights=np.asarray(weights, np.float32), names=np.array(NAMES),
             fps=np.float32(fps), template=np.str_(template_id(template)), head=head)


def read_head(path: str | os.PathLike, n: int) -> np.ndarray:
    """The head rotation (n, 3) float32 radians stored in an ``animation.npz``; zeros for any
    other file or an npz written before heads moved."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            head = np.asarray(z["head"], np.float32) if "head" in z else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        head = None
    if head is None or head.shape != (n, 3) or not np.isfinite(head).all():
        return np.zeros((n, 3), np.float32)
    return head


def read_npz(path: Path) -> tuple[np.ndarray, float]:
    """(weights (T, 52) float32, fps) of an ``animation.npz``, unvalidated (see ``formats.load_animation``)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: numpy leaks it on a bad zip
            raw, raw_fps = z["weights"], z["fps"]
        if raw.dtype.kind not in "biuf" or raw_fps.dtype.kind not in "iuf":  # complex, text, ...
            raise ValueError(f"weights {raw.dtype} / fps {raw_fps.dtype} are not real numbers")
        return np.asarray(raw, np.float32), float(raw_fps)
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise VocaError(f"animation {path} is unreadable ({one_line(e)}); it needs `weights` (T x 52) "
                        "and `fps`") from None

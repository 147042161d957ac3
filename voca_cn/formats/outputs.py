"""The output folder: the output stage shared by ``voca-cn render``, ``animate`` and ``batch``.

An output directory gets ``meshes/000000.obj ...`` (template vertex order and faces),
``preview.mp4`` (H.264 + AAC), ``animation.npz``, when known ``visemes.json``, and the exports asked for
(``voca_cn.formats.EXPORTS``: ``animation.glb``, ``livelink.csv``, ``arkit.json``). Everything is
written into a temporary sibling directory first and renamed into place at the end, so a failure
never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.files import atomic_dir
from voca_cn.core.timing import FPS, resample_frames
from voca_cn.face.template import Template
from voca_cn.formats import write_export
from voca_cn.formats.animation import save_animation
from voca_cn.formats.obj import write_obj_sequence
from voca_cn.render import Reference, render_video


@dataclass
class OutputOptions:
    obj: bool = True
    video: bool = True
    width: int = 512
    height: int = 512
    fps: int = FPS
    overwrite: bool = False
    view: str = "face"  # preview framing: face (eyes to chin) or head
    beside: Reference | None = None  # a video shown to the right of the preview
    exports: tuple[str, ...] = ()  # keys of voca_cn.formats.EXPORTS


# ---------------------------------------------------------------------------- animation


# ---------------------------------------------------------------------------- OBJ


# ---------------------------------------------------------------------------- output stage


def log_reference_fit(ref, seconds: float) -> None:
    """Say on stderr how a --beside video is fitted to a preview of ``seconds`` (within one of its
    frames counts as the same length)."""
    if ref.duration < seconds - 1 / ref.fps:
        print(f"--beside {ref.path.name} is {ref.duration:.2f} s, the preview {seconds:.2f} s: its last "
              f"frame is held for the remaining {seconds - ref.duration:.2f} s", file=sys.stderr)
    elif ref.duration > seconds + 1 / ref.fps:
        print(f"--beside {ref.path.name} is {ref.duration:.2f} s: only its first {seconds:.2f} s are shown",
              file=sys.stderr)


def write_outputs(out: str | os.PathLike, template: Template, weights: np.ndarray,
                  audio_path: str | os.PathLike | None, options: OutputOptions,
                  visemes: list[dict] | None = None, fps_in: float = FPS, head: np.ndarray | None = None) -> Path:
    """Write the full output set for weights (T, 52) and head rotation (T, 3) radians (None:
    still) at ``fps_in`` into ``out`` atomically."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2 or weights.shape[1] != 52 or len(weights) == 0 or not np.isfinite(weights).all():
        raise VocaError(f"refusing to write {out}: the weights are not finite T x 52 curves; "
                        "this is a bug, please report it with the input")
    head = np.zeros((len(weights), 3), np.float32) if head is None else np.asarray(head, np.float32)
    weights = resample_frames(weights, fps_in, options.fps)
    head = resample_frames(head, fps_in, options.fps, len(weights))
    with atomic_dir(out, options.overwrite) as tmp:
        save_animation(tmp / "animation.npz", weights, options.fps, template, head)
        if visemes is not None:
            (tmp / "visemes.json").write_text(json.dumps(visemes, indent=1))
        for name in options.exports:
            write_export(name, tmp, template, weights, options.fps, head)
        if options.obj:
            write_obj_sequence(tmp / "meshes", template, weights, head=head)
        if options.video:
            print(f"rendering {len(weights)} frames at {options.width}x{options.height}...", file=sys.stderr)
            if options.beside:
                log_reference_fit(options.beside, len(weights) / options.fps)
            render_video(template, weights, tmp / "preview.mp4", audio_path, fps=options.fps,
                         width=options.width, height=options.height, view=options.view,
                         beside=options.beside, head=head)
    return Path(out)



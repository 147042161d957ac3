"""The output folder: the output stage shared by ``voca-cn render``, ``animate`` and ``batch``.

An output directory gets ``meshes/000000.obj ...`` (template vertex order and faces),
``preview.mp4`` (H.264 + AAC), ``animation.npz``, when known ``visemes.json``, and the exports asked for
(``voca_cn.formats.EXPORTS``: ``animation.glb``, ``livelink.csv``, ``arkit.json``, ``animation.pc2``). Everything is
written into a temporary sibling directory first and renamed into place at the end, so a failure
never leaves a half-written output behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.files import atomic_dir
from voca_cn.core.timing import FPS, resample_frames
from voca_cn.face.template import Template
from voca_cn.formats import write_export
from voca_cn.formats.animation import save_animation
from voca_cn.formats.obj import ObjWriter, write_obj_sequence
from voca_cn.render import Reference, render_video


# The OBJ sequence is written by default up to this size; beyond it only when asked (--obj). One minute of
# makehuman is 1.9 GB of OBJ text, an hour would be 110 GB; the PC2 cache holds the same positions in 1/9.
OBJ_LIMIT = 10e9


@dataclass
class OutputOptions:
    obj: bool | None = None  # the OBJ sequence: True, False, None = up to OBJ_LIMIT bytes (larger is refused)
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


def check_obj_size(out: str | os.PathLike, template: Template, frames: int, fps: float, asked: bool) -> None:
    """Refuse, before any writing, an OBJ sequence larger than OBJ_LIMIT unless ``asked`` for (``--obj``),
    and one the disk under ``out`` cannot hold."""
    size = frames * ObjWriter(template).frame_bytes()
    parent = Path(out).resolve().parent
    free = shutil.disk_usage(parent).free
    what = f"the OBJ sequence ({frames} files, {frames / fps / 60:.1f} min at {fps:g} fps) takes ~{_size(size)}"
    pc2 = "--export pc2 stores the same vertex positions in ~1/9 of the space"
    if size > OBJ_LIMIT and not asked:
        raise VocaError(f"{what}; pass --obj to write it anyway, or --no-obj ({pc2})")
    if size > free:
        raise VocaError(f"{what}, {_size(free)} are free in {parent}; free disk space or choose another --out, "
                        f"or pass --no-obj ({pc2})")


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def log_reference_fit(ref, seconds: float) -> None:
    """Say on stderr how a --beside video is fitted to a preview of ``seconds`` (within one of its
    frames counts as the same length)."""
    if ref.duration < seconds - 1 / ref.fps:
        print(f"--beside {ref.path.name} is {ref.duration:.2f} s, the preview {seconds:.2f} s: its last "
              f"frame is held for the remaining {seconds - ref.duration:.2f} s", file=sys.stderr)
    elif ref.duration > seconds + 1 / ref.fps:
        print(f"--beside {ref.path.name} is {ref.duration:.2f} s: only its first {seconds:.2f} s are shown",
              file=sys.stderr)


LONGER_AUDIO_S = 0.5  # sound past the last frame a preview may end on without a word (a breath, a click)


def held_to(weights: np.ndarray, head: np.ndarray, seconds: float | None, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights (T, 52) and head (T, 3) with the last frame repeated to cover ``seconds`` of sound, so
    the picture does not stop before the sound; said on stderr. Unchanged when the sound ends
    within ``LONGER_AUDIO_S`` of the animation."""
    shown = len(weights) / fps
    if seconds is None or seconds <= shown + LONGER_AUDIO_S:
        return weights, head
    n = int(np.ceil(seconds * fps - 1e-9))
    print(f"voca-cn: note: the audio is {seconds:.2f} s, the animation {shown:.2f} s: the preview holds its "
          f"last frame for the remaining {seconds - shown:.2f} s", file=sys.stderr)
    return np.concatenate([weights, np.repeat(weights[-1:], n - len(weights), 0)]), \
        np.concatenate([head, np.repeat(head[-1:], n - len(head), 0)])


def write_outputs(out: str | os.PathLike, template: Template, weights: np.ndarray,
                  audio_path: str | os.PathLike | None, options: OutputOptions,
                  visemes: list[dict] | None = None, fps_in: float = FPS, head: np.ndarray | None = None,
                  audio_seconds: float | None = None) -> Path:
    """Write the full output set for weights (T, 52) and head rotation (T, 3) radians (None:
    still) at ``fps_in`` into ``out`` atomically. ``audio_seconds``: the sound's length; a preview
    whose sound runs on past the animation holds its last frame to the end (and says so)."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2 or weights.shape[1] != 52 or len(weights) == 0 or not np.isfinite(weights).all():
        raise VocaError(f"refusing to write {out}: the weights are not finite T x 52 curves; "
                        "this is a bug, please report it with the input")
    head = np.zeros((len(weights), 3), np.float32) if head is None else np.asarray(head, np.float32)
    weights = resample_frames(weights, fps_in, options.fps)
    head = resample_frames(head, fps_in, options.fps, len(weights))
    if options.obj is not False:
        check_obj_size(out, template, len(weights), options.fps, asked=options.obj is True)
    with atomic_dir(out, options.overwrite) as tmp, ThreadPoolExecutor(1) as background:
        save_animation(tmp / "animation.npz", weights, options.fps, template, head)
        if visemes is not None:
            (tmp / "visemes.json").write_text(json.dumps(visemes, indent=1))
        if options.video:  # drawn and encoded in other processes while this one writes the meshes
            print(f"rendering {len(weights)} frames at {options.width}x{options.height}...", file=sys.stderr)
            if options.beside:
                log_reference_fit(options.beside, len(weights) / options.fps)
            shown, shown_head = held_to(weights, head, audio_seconds, options.fps)
            video = background.submit(render_video, template, shown, tmp / "preview.mp4", audio_path,
                                      fps=options.fps, width=options.width, height=options.height, view=options.view,
                                      beside=options.beside, head=shown_head)
        for name in options.exports:
            write_export(name, tmp, template, weights, options.fps, head)
        if options.obj is not False:
            write_obj_sequence(tmp / "meshes", template, weights, head=head)
        if options.video:
            video.result()  # its error, if any, as the one line it is
    return Path(out)



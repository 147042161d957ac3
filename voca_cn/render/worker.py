"""The render process boundary: TensorFlow and Mesa's LLVM crash when loaded in one process, so
rendering always runs in a *spawned* worker (``render_video`` / ``render_frames`` start it); the
worker imports numpy and moderngl only. Frames are piped straight into ffmpeg (imageio-ffmpeg's
binary), so memory stays bounded whatever the length. ``--beside`` reference videos are read here.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.render.preview import Renderer


def _frames_worker(template, weights, width, height, view, head, conn):
    try:
        r = Renderer(template, width, height, view)
        conn.send(("ok", np.stack([r.frame(v) for v in template.deform(weights, head)])))
    except BaseException as e:  # report everything back; the parent turns it into one line
        conn.send(("error", e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))


def _video_worker(template, weights, audio_path, out_path, width, height, fps, view, beside, head, conn):
    try:
        import imageio_ffmpeg

        r = Renderer(template, width, height, view)
        ref = beside and reference_frames(beside, fps, height)
        writer = imageio_ffmpeg.write_frames(
            str(out_path), (width + (beside.width_at(height) if beside else 0), height), fps=fps,
            codec="libx264", quality=None,
            bitrate=None, pix_fmt_out="yuv420p", macro_block_size=1,
            audio_path=str(audio_path) if audio_path else None, audio_codec="aac",
            output_params=["-crf", "20", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error")
        writer.send(None)
        chunk = 256  # frames deformed at once: bounded memory for long inputs
        for s in range(0, len(weights), chunk):
            for v in template.deform(weights[s:s + chunk], None if head is None else head[s:s + chunk]):
                writer.send(np.concatenate([r.frame(v), next(ref)], axis=1) if ref else r.frame(v))
        writer.close()
        conn.send(("ok", None))
    except BaseException as e:
        conn.send(("error", e if isinstance(e, VocaError) else VocaError(f"video writing failed: {e!r}")))


@dataclass
class Reference:
    """A video to show beside the preview (``--beside``): path, size (pixels), fps, duration (s)."""

    path: Path
    width: int
    height: int
    fps: float
    duration: float

    def width_at(self, height: int) -> int:
        """Its width (even, pixels) when scaled to ``height``, aspect kept."""
        return max(2, 2 * round(self.width * height / self.height / 2))


def probe_video(path: str | os.PathLike) -> Reference:
    """Read a video's size, rate and duration, or refuse it in one line."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"--beside video {path} does not exist; check the path")
    try:
        frames = imageio_ffmpeg.read_frames(str(path))
        meta = next(frames)
        frames.close()
        ref = Reference(path, *meta["size"], float(meta["fps"]), float(meta["duration"]))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, StopIteration):
        raise VocaError(f"--beside {path} is not a readable video; give a video file "
                        "(MP4, MOV, AVI, MKV, ...) that ffmpeg can decode") from None
    if ref.duration <= 0 or ref.fps <= 0:
        raise VocaError(f"--beside video {path} has no frames; give a video with a picture")
    return ref


def reference_frames(ref: Reference, fps: int, height: int):
    """The reference's frames (height, W, 3) uint8 at ``fps`` from time 0, scaled to ``height``;
    after its last frame, that frame again forever (the caller stops at the preview's length)."""
    import logging

    import imageio_ffmpeg

    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # it warns that we scale: we mean to
    w = ref.width_at(height)
    last = np.zeros((height, w, 3), np.uint8)
    frames = imageio_ffmpeg.read_frames(str(ref.path), output_params=["-vf", f"fps={fps},scale={w}:{height}"])
    next(frames)
    for buf in frames:
        last = np.frombuffer(buf, np.uint8).reshape(height, w, 3)
        yield last
    while True:
        yield last


def _run_spawned(target, *args):
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        proc.join()
        raise VocaError(f"the render worker died (exit code {proc.exitcode}); check that EGL/Mesa "
                        "is installed (see README setup) or pass --no-video") from None
    proc.join()
    if status == "error":
        raise payload
    return payload


def render_frames(template: Template, weights: np.ndarray, width: int = 512, height: int = 512,
                  view: str = "face", head: np.ndarray | None = None) -> np.ndarray:
    """Render weights (T, 52) on a template, the head turned by ``head`` (T, 3) radians when
    given -> images (T, H, W, 3) uint8, in a spawned worker."""
    return _run_spawned(_frames_worker, template, np.asarray(weights, np.float32), width, height, view, head)


def render_video(template: Template, weights: np.ndarray, out_path: str | os.PathLike,
                 audio_path: str | os.PathLike | None = None, fps: int = 60,
                 width: int = 512, height: int = 512, view: str = "face",
                 beside: Reference | None = None, head: np.ndarray | None = None) -> None:
    """Write an H.264 (+ AAC when audio is given) MP4 of weights (T, 52) (and the head rotation
    ``head`` (T, 3) radians) at ``fps``; with ``beside``,
    that video's frames (same time from 0, scaled to ``height``) to the right of the head."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise VocaError(f"video size {width}x{height} is invalid: use even sizes >= 16, e.g. 512x512")
    _run_spawned(_video_worker, template, np.asarray(weights, np.float32), audio_path,
                 Path(out_path), width, height, fps, view, beside, head)

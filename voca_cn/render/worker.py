"""The render process boundary: TensorFlow and Mesa's LLVM crash when loaded in one process, so
drawing always runs in *spawned* workers (``render_video`` / ``render_frames`` start them), which import
numpy and moderngl only: one per core, frame i drawn by worker i mod K, the frames taken back in order
and piped straight into ffmpeg (imageio-ffmpeg's binary), which encodes while the workers draw. The
frame order, and so the file, does not depend on K; memory stays bounded whatever the length.
``--beside`` reference videos are read here.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.render.preview import Renderer


# ------------------------------------------------------------------ workers
def _draw_worker(template, weights, width, height, view, conn):
    """Spawned: draw weights (T_k, 52), this worker's frames in order, and send each image's bytes
    (H x W x 3); an error goes back pickled, as a message of another length."""
    os.environ.setdefault("LP_NUM_THREADS", "1")  # one drawing thread beside this one: a worker per core
    try:
        r = Renderer(template, width, height, view)
        for s in range(0, len(weights), 64):  # deformed a chunk at a time: bounded memory
            for v in template.deform(weights[s:s + 64]):
                r.frame(v)
                conn.send_bytes(r.image)
    except BaseException as e:  # report everything back; the parent raises it as one line
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))


def _frames(template: Template, weights: np.ndarray, width: int, height: int, view: str):
    """Yield the images (H, W, 3) uint8 of weights (T, 52) in frame order, drawn by spawned workers,
    one per core: frame i by worker i mod K, each a frame ahead of the one being taken."""
    ctx = mp.get_context("spawn")
    k = max(1, min(len(os.sched_getaffinity(0)), len(weights)))
    conns, procs = [], []
    try:
        for i in range(k):
            parent, child = ctx.Pipe(duplex=False)
            procs.append(ctx.Process(target=_draw_worker, args=(template, weights[i::k], width, height, view, child),
                                     daemon=True))
            procs[-1].start()
            child.close()
            conns.append(parent)
        for i in range(len(weights)):
            try:
                msg = conns[i % k].recv_bytes()
            except EOFError:
                procs[i % k].join()
                raise VocaError(f"the render worker died (exit code {procs[i % k].exitcode}); check that EGL/Mesa "
                                "is installed (see README setup) or pass --no-video") from None
            if len(msg) != width * height * 3:
                raise pickle.loads(msg)
            yield np.frombuffer(msg, np.uint8).reshape(height, width, 3)
    finally:
        for c in conns:
            c.close()  # a worker still sending stops on the broken pipe
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()


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


def render_frames(template: Template, weights: np.ndarray, width: int = 512, height: int = 512,
                  view: str = "face") -> np.ndarray:
    """Render weights (T, 52) on a template -> images (T, H, W, 3) uint8, in spawned workers."""
    with contextlib.closing(_frames(template, np.asarray(weights, np.float32), width, height, view)) as frames:
        return np.stack(list(frames))


def render_video(template: Template, weights: np.ndarray, out_path: str | os.PathLike,
                 audio_path: str | os.PathLike | None = None, fps: int = 60,
                 width: int = 512, height: int = 512, view: str = "face",
                 beside: Reference | None = None) -> None:
    """Write an H.264 (+ AAC when audio is given) MP4 of weights (T, 52) at ``fps``; with ``beside``,
    that video's frames (same time from 0, scaled to ``height``) to the right of the head. ffmpeg
    encodes while the workers draw; the same input gives the same file."""
    import imageio_ffmpeg

    if width % 2 or height % 2 or width < 16 or height < 16:
        raise VocaError(f"video size {width}x{height} is invalid: use even sizes >= 16, e.g. 512x512")
    ref = beside and reference_frames(beside, fps, height)
    try:
        writer = imageio_ffmpeg.write_frames(
            str(out_path), (width + (beside.width_at(height) if beside else 0), height), fps=fps,
            codec="libx264", quality=None,
            bitrate=None, pix_fmt_out="yuv420p", macro_block_size=1,
            audio_path=str(audio_path) if audio_path else None, audio_codec="aac",
            output_params=["-crf", "20", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error")
        writer.send(None)
        try:
            with contextlib.closing(_frames(template, np.asarray(weights, np.float32), width, height, view)) as frames:
                for image in frames:
                    writer.send(np.concatenate([image, next(ref)], axis=1) if ref else image)
        finally:
            writer.close()
    except VocaError:
        raise
    except Exception as e:  # ffmpeg refused or died: one line
        raise VocaError(f"video writing failed: {e!r}"[:300]) from None

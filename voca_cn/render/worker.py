"""The render process boundary: TensorFlow and Mesa's LLVM crash when loaded in one process, so
drawing always runs in *spawned* workers (``render_video`` / ``render_frames`` start them), which import
numpy and moderngl only: one per core, frame i drawn by worker i mod K, the frames taken back in order
and piped straight into ffmpeg (imageio-ffmpeg's binary), which encodes while the workers draw. The
frame order, and so the file, does not depend on K; memory stays bounded whatever the length.
A worker reads each picture back into shared memory (:data:`SLOTS` frames of its own) and sends
only a byte: sending the 786 KB of a 512x512 frame through a pipe cost 1.2 ms of CPU a frame.
``--beside`` reference videos are read here.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.face.template import Template
from voca_cn.render.preview import Renderer


# ------------------------------------------------------------------ workers
SLOTS = 2  # frames a worker may draw ahead of the one the parent is taking
READY = b"\x01"  # a frame is in its slot; any other message is a pickled error


def _draw_worker(template, weights, head, width, height, view, conn, shm_name):
    """Spawned: draw weights (T_k, 52) with the head turned by ``head`` (T_k, 3) radians (or None), this
    worker's frames in order, frame j into slot j mod :data:`SLOTS` of the shared memory ``shm_name``,
    sending :data:`READY` for each and waiting, before it reuses a slot, for the parent's byte saying
    the frame there was taken; an error goes back pickled."""
    os.environ.setdefault("LP_NUM_THREADS", "1")  # one drawing thread beside this one: a worker per core
    from multiprocessing import shared_memory

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # the deform's BLAS too: a pool per core in each of a worker per core spins them all

    shm = None
    try:
        shm = shared_memory.SharedMemory(name=shm_name)  # the parent creates and unlinks it
        size = width * height * 3
        r = Renderer(template, width, height, view)
        j = 0
        for s in range(0, len(weights), 64):  # deformed a chunk at a time: bounded memory
            for v in template.deform(weights[s:s + 64], None if head is None else head[s:s + 64]):
                if j >= SLOTS:
                    conn.recv_bytes()  # frame j - SLOTS was taken: its slot is free
                r.frame(v, into=shm.buf[j % SLOTS * size:(j % SLOTS + 1) * size])
                conn.send_bytes(READY)
                j += 1
    except BaseException as e:  # report everything back; the parent raises it as one line
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(e if isinstance(e, VocaError) else VocaError(f"renderer failed: {e!r}")))
    finally:
        if shm is not None:
            shm.close()


def _frames(template: Template, weights: np.ndarray, head: np.ndarray | None, width: int, height: int, view: str):
    """Yield the images (H, W, 3) uint8 of weights (T, 52) (and head (T, 3) radians) in frame order,
    drawn by spawned workers, one per core: frame i by worker i mod K, each up to :data:`SLOTS`
    frames ahead of the one being taken. Each image is copied out of the worker's shared memory into
    one array, so an image is valid until the next one is asked for."""
    from multiprocessing import shared_memory

    ctx = mp.get_context("spawn")
    k = max(1, min(len(os.sched_getaffinity(0)), len(weights)))
    size = width * height * 3
    image = np.empty((height, width, 3), np.uint8)
    conns, procs, shms = [], [], []
    try:
        for i in range(k):
            shms.append(shared_memory.SharedMemory(create=True, size=SLOTS * size))
            parent, child = ctx.Pipe()
            mine = None if head is None else head[i::k]
            proc = ctx.Process(target=_draw_worker, daemon=True,
                               args=(template, weights[i::k], mine, width, height, view, child, shms[-1].name))
            proc.start()  # before it is listed: the cleanup below joins only started workers
            procs.append(proc)
            child.close()
            conns.append(parent)
        for i in range(len(weights)):
            w, slot = i % k, i // k % SLOTS
            try:
                msg = conns[w].recv_bytes()
            except EOFError:
                procs[w].join()
                raise VocaError(f"the render worker died (exit code {procs[w].exitcode}); check that EGL/Mesa "
                                "is installed (see README setup) or pass --no-video") from None
            if msg != READY:
                raise pickle.loads(msg)
            # copied (0.05 ms), not viewed: a view the caller kept would stop the memory being closed
            image.reshape(-1)[:] = np.frombuffer(shms[w].buf, np.uint8, size, slot * size)
            if i // k + SLOTS < len(range(w, len(weights), k)):  # the worker has a frame left to put there
                conns[w].send_bytes(READY)  # its slot is free again
            yield image
    finally:
        for c in conns:
            c.close()  # a worker still sending stops on the broken pipe
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for shm in shms:
            with contextlib.suppress(BufferError):  # a view still alive: the memory goes when it does
                shm.close()
            shm.unlink()


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
    w = ref.width_at(height)
    size = height * w * 3
    last = np.zeros((height, w, 3), np.uint8)
    decoder = _ffmpeg(["-i", str(ref.path), "-vf", f"fps={fps},scale={w}:{height}", "-f", "rawvideo",
                       "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    try:
        while len(buf := decoder.stdout.read(size)) == size:
            last = np.frombuffer(buf, np.uint8).reshape(height, w, 3)
            yield last
    finally:
        decoder.kill()
        decoder.wait()
    while True:
        yield last


def _ffmpeg(args: list[str], **popen) -> subprocess.Popen:
    """imageio-ffmpeg's binary with ``args`` (errors only on stderr). In its own session, started
    without running Python in the child: safe while other threads run (imageio-ffmpeg's own launcher
    runs os.setpgrp there, which can hang a threaded process), and Ctrl-C reaches only us."""
    import imageio_ffmpeg

    return subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", *args], start_new_session=True, **popen)


def _encoder(out_path: Path, width: int, height: int, fps: int, audio_path) -> subprocess.Popen:
    """ffmpeg reading raw RGB frames (H x W x 3 bytes each) on stdin -> H.264 (CRF 20, veryfast,
    yuv420p) + AAC from ``audio_path`` MP4, the moov atom first (streams start at once)."""
    audio = ["-i", str(audio_path)] if audio_path else ["-an"]
    mux = ["-acodec", "aac", "-map", "0:v:0", "-map", "1:a:0"] if audio_path else []
    return _ffmpeg(["-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{width}x{height}", "-pix_fmt", "rgb24",
                    "-r", str(Fraction(fps).limit_denominator()), "-i", "-", *audio, "-vcodec", "libx264",
                    "-pix_fmt", "yuv420p", "-crf", "20", "-preset", "veryfast", "-movflags", "+faststart", *mux,
                    str(out_path)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)


def render_frames(template: Template, weights: np.ndarray, width: int = 512, height: int = 512,
                  view: str = "face", head: np.ndarray | None = None) -> np.ndarray:
    """Render weights (T, 52) on a template, the head turned by ``head`` (T, 3) radians when given
    -> images (T, H, W, 3) uint8, in spawned workers."""
    out = np.empty((len(weights), height, width, 3), np.uint8)
    with contextlib.closing(_frames(template, np.asarray(weights, np.float32), head, width, height, view)) as frames:
        for i, image in enumerate(frames):
            out[i] = image  # each image lives only until the next
    return out


def render_video(template: Template, weights: np.ndarray, out_path: str | os.PathLike,
                 audio_path: str | os.PathLike | None = None, fps: int = 60,
                 width: int = 512, height: int = 512, view: str = "face",
                 beside: Reference | None = None, head: np.ndarray | None = None) -> None:
    """Write an H.264 (+ AAC when audio is given) MP4 of weights (T, 52) (and the head rotation
    ``head`` (T, 3) radians) at ``fps``; with ``beside``,
    that video's frames (same time from 0, scaled to ``height``) to the right of the head. ffmpeg
    encodes while the workers draw; the same input gives the same file."""
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise VocaError(f"video size {width}x{height} is invalid: use even sizes >= 16, e.g. 512x512")
    ref = beside and reference_frames(beside, fps, height)
    encoder = _encoder(Path(out_path), width + (beside.width_at(height) if beside else 0), height, fps, audio_path)
    try:
        with contextlib.closing(_frames(template, np.asarray(weights, np.float32), head, width, height, view)) as frames:
            for image in frames:
                encoder.stdin.write(np.concatenate([image, next(ref)], axis=1) if ref else image)
        encoder.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg stopped early: its message follows
    finally:
        if ref:
            ref.close()
        if not encoder.stdin.closed:  # an error on our side: stop ffmpeg
            encoder.kill()
        error = encoder.stderr.read().decode(errors="replace").strip()
        encoder.wait()
    if encoder.returncode:
        raise VocaError(f"video writing failed: ffmpeg: {(error.splitlines() or ['exit %d' % encoder.returncode])[-1][:200]}")

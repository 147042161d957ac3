"""ARKit weight curves as files other tools read: Live Link Face CSV and ARKit JSON (write and read back).

- ``livelink.csv``: the layout of Epic's Live Link Face app takes: ``Timecode`` (``HH:MM:SS:FF.mmm``, FF the
  frame within the second at the animation's fps, .mmm the sub-frame), ``BlendShapeCount`` (61), the 52
  shapes in PascalCase in the app's column order (``voca_cn.core.arkit.LIVE_LINK``), then head and eye
  rotations (HeadYaw ... RightEyeRoll) as Unreal's ARKit face support reads them: an FRotator's
  degrees / 180 (so -1..1), for a character facing +X with Z up: HeadYaw > 0 turns the head to its
  right, HeadPitch > 0 lifts the chin, HeadRoll > 0 tilts it toward its right shoulder; the eyes
  alike (from the eyeLook shapes, :func:`voca_cn.core.arkit.gaze_angles`; roll 0). From voca_cn's
  head rotation (``animation.npz`` ``head``): HeadYaw = -yaw, HeadPitch = -pitch, HeadRoll = roll.
  (Live Link Face's "mirror" option flips yaw and roll.)
- ``arkit.json``: ``{"fps": 60, "names": [52 camelCase names], "frames": [{"jawOpen": 0.12, ...}, ...],
  "head": [[yaw, pitch, roll], ...]}`` (radians, ``animation.npz``'s convention), frame i at time i / fps,
  for web and game code that wants neither glTF nor CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX, LIVE_LINK, NAMES, gaze_angles
from voca_cn.core.files import atomic_write

ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
             "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


def timecode(frame: int, fps: float) -> str:
    """Live Link Face timecode of frame ``frame`` at ``fps``: ``HH:MM:SS:FF.mmm`` from time 0."""
    sec, rem = divmod(frame, fps)  # rem: frames into the second (exact for whole fps)
    ff = int(rem + 1e-6)
    sec = int(sec)
    return f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}:{ff:02d}.{int(round((rem - ff) * 1000)) % 1000:03d}"


def rotations(weights: np.ndarray, head: np.ndarray | None) -> np.ndarray:
    """(T, 52) weights, (T, 3) head radians (yaw, pitch, roll) or None -> (T, 9) Live Link Face
    rotation columns (:data:`ROTATIONS`, Unreal's convention: degrees / 180)."""
    n = len(weights)
    head = np.zeros((n, 3)) if head is None else np.asarray(head, np.float64)
    gaze = gaze_angles(weights).astype(np.float64)
    eye = np.stack([-gaze[:, 0], -gaze[:, 1], np.zeros(n)], 1)
    out = np.concatenate([head * [-1, -1, 1], eye, eye], 1)
    return np.degrees(out) / 180.0


def write_livelink(path: str | os.PathLike, weights: np.ndarray, fps: float, head: np.ndarray | None = None) -> None:
    """Write weights (T, 52) in ARKit order and the head rotation (T, 3) radians (None: still) as
    a Live Link Face CSV at ``fps`` (6 decimals)."""
    order = [INDEX[n[0].lower() + n[1:]] for n in LIVE_LINK]
    w = np.concatenate([np.asarray(weights, np.float64)[:, order], rotations(weights, head)], 1)
    buf = io.StringIO()
    buf.write(",".join(("Timecode", "BlendShapeCount") + LIVE_LINK + ROTATIONS) + "\n")
    count = len(LIVE_LINK) + len(ROTATIONS)
    for i, row in enumerate(w):
        buf.write(f"{timecode(i, fps)},{count}," + ",".join(f"{x:.6f}" for x in row) + "\n")
    atomic_write(path, buf.getvalue())


def read_livelink(path: str | os.PathLike, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Read a Live Link Face CSV -> (weights (T, 52) float32 in ARKit order, fps). Columns are found
    by name (any case); shapes the file lacks read 0. The fps is taken from the timecodes' frame
    numbers unless given."""
    try:
        rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
        header = [h.strip().lower() for h in rows[0]]
        cols = {h: j for j, h in enumerate(header)}
        w = np.zeros((len(rows) - 1, 52), np.float32)
        for n in NAMES:
            if n.lower() in cols:
                w[:, INDEX[n]] = [float(r[cols[n.lower()]]) for r in rows[1:]]
        stamps = [r[cols["timecode"]].split(":") for r in rows[1:]]
        frames, seconds = [int(t[3].split(".")[0]) for t in stamps], {t[2] for t in stamps}
    except (OSError, IndexError, KeyError, ValueError, UnicodeDecodeError) as e:
        raise VocaError(f"{path} is not a readable Live Link Face CSV ({e}); it needs a Timecode column "
                        "and ARKit shape columns") from None
    if not np.isfinite(w).all():
        raise VocaError(f"{path} has non-finite weights; export it again")
    if fps is None:  # frame numbers restart each second: their top + 1 is the rate, once a second passed
        fps = max(frames) + 1.0 if len(seconds) > 1 else 60.0
    return w, float(fps)


def write_arkit_json(path: str | os.PathLike, weights: np.ndarray, fps: float, head: np.ndarray | None = None) -> None:
    """Write weights (T, 52) as ARKit JSON: fps, names, one ``{name: weight}`` object per frame,
    and ``head`` (T, 3) radians (yaw, pitch, roll; zeros when None)."""
    w = np.round(np.asarray(weights, np.float64), 6)
    frames = [dict(zip(NAMES, row)) for row in w.tolist()]
    head = np.zeros((len(w), 3)) if head is None else np.asarray(head, np.float64)
    atomic_write(path, json.dumps({"fps": fps, "names": list(NAMES), "frames": frames,
                                   "head": np.round(head, 6).tolist()}, separators=(",", ":")))


def read_arkit_json(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read ARKit JSON -> (weights (T, 52) float32, fps); names not in a frame read 0."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        w = np.array([[float(f.get(n, 0.0)) for n in NAMES] for f in d["frames"]], np.float32).reshape(-1, 52)
        fps = float(d["fps"])
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise VocaError(f"{path} is not readable ARKit JSON ({e}); it needs fps and frames "
                        "(a list of name -> weight)") from None
    if not np.isfinite(w).all():
        raise VocaError(f"{path} has non-finite weights; export it again")
    return w, fps

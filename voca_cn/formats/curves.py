"""ARKit weight curves as files other tools read: Live Link Face CSV and ARKit JSON (write and read back).

- ``livelink.csv``: the layout of Epic's Live Link Face app: ``Timecode`` (``HH:MM:SS:FF.mmm``),
  ``BlendShapeCount`` (61), the 52 shapes in PascalCase in the app's column order
  (``voca_cn.core.arkit.LIVE_LINK``), then head and eye rotations (HeadYaw ... RightEyeRoll) as Unreal's
  ARKit face support reads them: an FRotator's degrees / 180 (so -1..1), for a character facing +X with
  Z up: HeadYaw > 0 turns the head to its right, HeadPitch > 0 lifts the chin, HeadRoll > 0 tilts it
  toward its right shoulder; the eyes alike (from the eyeLook shapes, :func:`voca_cn.core.arkit.gaze_angles`;
  roll 0). From voca_cn's head rotation (``animation.npz`` ``head``): HeadYaw = -yaw, HeadPitch = -pitch,
  HeadRoll = roll. (Live Link Face's "mirror" option flips yaw and roll.)
  Timecodes: the app records at 60 fps and stamps each row with FF counting sixtieths of a second and
  .mmm the thousandths of one; Unreal's LiveLinkFaceImporter reads FF that way whatever the take's
  rate. So a row's timecode is its time in sixtieths at every ``--fps``: at 30 fps frame 1 is
  ``00:00:00:02.000``, at 24 fps ``00:00:00:02.500``; written as frames of the file's own rate (FF = 1)
  it would play twice too fast.
- ``arkit.json``: ``{"fps": 60, "names": [52 camelCase names], "frames": [{"jawOpen": 0.12, ...}, ...],
  "head": [[yaw, pitch, roll], ...]}`` (radians, ``animation.npz``'s convention), frame i at time i / fps,
  for web and game code that wants neither glTF nor CSV.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX, LIVE_LINK, NAMES, gaze_angles
from voca_cn.core.files import atomic_path, one_line
from voca_cn.core.untrusted import expect, read_json
from voca_cn.formats.keyframes import columns, frame_count, rate, uniform

ROTATIONS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
             "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


def timecode(frame: int, fps: float) -> str:
    """Live Link Face timecode of frame ``frame`` at ``fps`` from time 0: ``HH:MM:SS:FF.mmm`` with
    FF the sixtieth of the second and mmm thousandths of a sixtieth (exact to 1/60000 s)."""
    ticks = int(round(frame * 60000 / fps))
    sixtieths, mmm = divmod(ticks, 1000)
    sec, ff = divmod(sixtieths, 60)
    return f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}:{ff:02d}.{mmm:03d}"


def seconds(stamp: str) -> float:
    """A Live Link Face timecode ``HH:MM:SS:FF[.mmm]`` (FF in sixtieths) -> seconds."""
    hh, mm, ss, ff = stamp.strip().split(":")
    frame = float(ff)
    if not (0 <= frame < 60 and 0 <= int(mm) < 60 and 0 <= int(ss) < 60 and int(hh) >= 0):
        raise ValueError(f"timecode {stamp.strip()[:20]!r} is out of range")
    return int(hh) * 3600 + int(mm) * 60 + int(ss) + frame / 60


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
    count = len(LIVE_LINK) + len(ROTATIONS)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:  # row by row: an hour is 0.12 GB of text
        fh.write(",".join(("Timecode", "BlendShapeCount") + LIVE_LINK + ROTATIONS) + "\n")
        for i, row in enumerate(w):
            fh.write(f"{timecode(i, fps)},{count}," + ",".join(f"{x:.6f}" for x in row) + "\n")


MAX_BYTES = 256 * 2**20  # 9 h of 60 fps Live Link rows; a longer file is not one take


def read_livelink(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a Live Link Face CSV -> (weights (T, 52) float32 in ARKit order, fps). Columns are
    found by name (any case); shapes the file lacks read 0, but it needs one. Rows are played in
    timecode order (see :func:`seconds`); the fps is their spacing."""
    where = f"{path}"
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES >> 20} MB")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        header = [h.strip().lower() for h in rows[0]]
        shape_cols = columns(rows[0], where, _OTHER_COLUMNS)
        cols = {h: j for j, h in enumerate(header)}
        body = [r for r in rows[1:] if any(x.strip() for x in r)]
        frame_count(len(body), where)
        times = np.array([seconds(r[cols["timecode"]]) for r in body])
        w = np.zeros((len(body), 52), np.float32)
        for k, j in shape_cols.items():
            w[:, k] = [float(r[j]) for r in body]
    except VocaError:
        raise
    except (OSError, IndexError, KeyError, ValueError, UnicodeDecodeError, csv.Error) as e:
        raise VocaError(f"{path} is not a readable Live Link Face CSV ({str(e)[:120]}); it needs a Timecode "
                        "column and ARKit shape columns") from None
    if not np.isfinite(w).all():
        raise VocaError(f"{path} has non-finite weights; export it again")
    order = np.argsort(times, kind="stable")  # a take's rows, in whatever order an editor left them
    return uniform(times[order], w[order], where)


_OTHER_COLUMNS = ("timecode", "blendshapecount") + tuple(r.lower() for r in ROTATIONS)


def write_arkit_json(path: str | os.PathLike, weights: np.ndarray, fps: float, head: np.ndarray | None = None) -> None:
    """Write weights (T, 52) as ARKit JSON: fps, names, one ``{name: weight}`` object per frame,
    and ``head`` (T, 3) radians (yaw, pitch, roll; zeros when None). Written a few thousand frames
    at a time (the bytes ``json.dumps`` gives for the whole): an hour's frames as Python objects
    took 0.6 GB."""
    w = np.asarray(weights, np.float64)
    head = np.zeros((len(w), 3)) if head is None else np.asarray(head, np.float64)
    dumps = lambda x: json.dumps(x, separators=(",", ":"))  # noqa: E731
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f'{{"fps":{dumps(fps)},"names":{dumps(list(NAMES))},"frames":[')
        for a in range(0, len(w), 4096):
            rows = np.round(w[a:a + 4096], 6).tolist()
            fh.write(("," if a else "") + dumps([dict(zip(NAMES, row)) for row in rows])[1:-1])
        fh.write('],"head":[')
        for a in range(0, len(head), 4096):
            fh.write(("," if a else "") + dumps(np.round(head[a:a + 4096], 6).tolist())[1:-1])
        fh.write("]}")


def read_arkit_json(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read ARKit JSON -> (weights (T, 52) float32, fps); names not in a frame read 0, names that
    are not ARKit shapes are refused."""
    fix = "it needs fps and frames (a list of name -> weight)"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise VocaError(f"cannot read {path} ({one_line(e)}); check the path") from None
    doc = expect(read_json(raw, f"ARKit JSON {path}", fix, MAX_BYTES), dict, f"ARKit JSON {path}")
    fps = rate(doc.get("fps"), f"ARKit JSON {path}")
    frames = expect(doc.get("frames"), list, f"ARKit JSON {path}: frames")
    frame_count(len(frames), f"ARKit JSON {path}")
    names = sorted({n for f in frames for n in expect(f, dict, f"ARKit JSON {path}: each frame")})
    index = columns(names, f"ARKit JSON {path}")
    w = np.zeros((len(frames), 52), np.float32)
    for i, f in enumerate(frames):
        for k, j in index.items():
            if names[j] in f:
                value = expect(f[names[j]], float, f"ARKit JSON {path}: frame {i} {names[j]}")
                w[i, k] = value if abs(value) < 1e30 else np.inf  # an int too big for a float, too
    if not np.isfinite(w).all():
        raise VocaError(f"{path} has non-finite weights; export it again")
    return w, fps

"""Exporters: the output stage shared by ``voca-cn render`` and ``voca-cn animate``.

An output directory gets ``meshes/000000.obj ...`` (template vertex order and faces),
``preview.mp4`` (H.264 + AAC), ``animation.npz``, when known ``visemes.json``, and the exports asked for
(``EXPORTS``: ``animation.glb``, ``livelink.csv``, ``arkit.json``). Everything is
written into a temporary sibling directory first and renamed into place at the end, so a failure
never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voca_cn import VocaError
from voca_cn.arkit import NAMES
from voca_cn.templates import Template

FPS = 60
# --export name -> file written into the output directory
EXPORTS = {"glb": "animation.glb", "livelink": "livelink.csv", "arkit-json": "arkit.json", "pc2": "animation.pc2"}


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
    beside: "Reference | None" = None  # a video shown to the right of the preview (voca_cn.render.Reference)
    exports: tuple[str, ...] = ()  # keys of EXPORTS


def template_id(template: Template) -> str:
    """Name plus a hash of the neutral vertices: tells an edited or identity-baked head apart."""
    digest = hashlib.sha1(np.ascontiguousarray(template.vertices, np.float32).tobytes()).hexdigest()
    return f"{template.name}@{digest[:12]}"


def resample_frames(frames: np.ndarray, rate_in: float, rate_out: float, n: int | None = None,
                    block: int = 65536) -> np.ndarray:
    """Linear resampling of (T, D) frames (weight curves, phone probabilities) between frame
    rates; frame i sits at i / rate, the ends are held. ``n`` output frames (default: as many
    as cover the input)."""
    n = n or max(1, int(np.ceil(len(frames) * rate_out / rate_in - 1e-9)))
    if rate_in == rate_out and n == len(frames):
        return frames
    out = np.empty((n, frames.shape[1]), np.float32)
    for s in range(0, n, block):  # in blocks: hours of phone probabilities are hundreds of MB
        out[s:s + block] = lerp_frames(frames, np.arange(s, min(s + block, n)) * (rate_in / rate_out))
    return out


def lerp_frames(frames: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(T, D) frames read at fractional positions ``pos`` (N,) (in frames, past the end held)
    -> (N, D) float32. A stream passes positions relative to the frames it still holds and gets
    the same values as the whole sequence."""
    i = np.clip(np.floor(pos).astype(int), 0, len(frames) - 1)
    j = np.minimum(i + 1, len(frames) - 1)
    f = np.clip(pos - i, 0, 1)[:, None]
    return ((1 - f) * frames[i] + f * frames[j]).astype(np.float32)


# ---------------------------------------------------------------------------- animation
def save_animation(path: str | os.PathLike, weights: np.ndarray, fps: float, template: Template) -> None:
    """``animation.npz``: weights (T, 52) float32, names, fps, template id; the same bytes for the
    same content (see :func:`save_npz`)."""
    save_npz(path, weights=np.asarray(weights, np.float32), names=np.array(NAMES),
             fps=np.float32(fps), template=np.str_(template_id(template)))


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but byte-identical for identical arrays: numpy stamps each
    member with the wall-clock time, which would make every run's file differ."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                npy.write_array(fh, np.asanyarray(value), allow_pickle=False)


def load_animation(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read ``animation.npz`` (or an exported ``animation.glb``, ``livelink.csv``, ``arkit.json``)
    -> (weights (T, 52) float32, fps), validated."""
    path = Path(path)
    if not path.is_file():
        raise VocaError(f"animation {path} does not exist; give the animation.npz from `voca-cn animate`")
    from voca_cn import curves, gltf

    suffix = path.suffix.lower()
    if suffix in gltf.SUFFIXES:
        weights, fps = gltf.read_weights(path)
    elif suffix == ".csv":
        weights, fps = curves.read_livelink(path)
    elif suffix == ".json":
        weights, fps = curves.read_arkit_json(path)
    else:
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: numpy leaks it on a bad zip
                raw, raw_fps = z["weights"], z["fps"]
            if raw.dtype.kind not in "biuf" or raw_fps.dtype.kind not in "biuf":  # complex, text, ...
                raise ValueError(f"weights {raw.dtype} / fps {raw_fps.dtype} are not real numbers")
            weights, fps = np.asarray(raw, np.float32), float(raw_fps)
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
            raise VocaError(f"animation {path} is unreadable ({_first_line(e)}); it needs `weights` (T x 52) "
                            "and `fps`") from None
    if weights.ndim != 2 or weights.shape[1] != 52:
        raise VocaError(f"animation {path}: weights have shape {weights.shape}, expected (T, 52) "
                        "in ARKit order (voca_cn.arkit.NAMES)")
    if len(weights) == 0:
        raise VocaError(f"animation {path} has no frames")
    if not np.isfinite(weights).all():
        raise VocaError(f"animation {path} has non-finite weights (NaN/inf); regenerate it")
    if not 1 <= fps <= 240:
        raise VocaError(f"animation {path}: fps {fps} is out of range (1-240)")
    return weights, fps


def write_export(name: str, directory: Path, template: Template, weights: np.ndarray, fps: float) -> Path:
    """Write one ``--export`` format (a key of EXPORTS) of weights (T, 52) at ``fps`` into directory."""
    from voca_cn import curves, gltf

    path = directory / EXPORTS[name]
    if name == "glb":
        gltf.write_animation_glb(path, template, weights, fps)
    elif name == "livelink":
        curves.write_livelink(path, weights, fps)
    elif name == "pc2":
        from voca_cn.formats.pc2 import write_pc2

        write_pc2(path, template, weights, fps)
    else:
        curves.write_arkit_json(path, weights, fps)
    return path


# ---------------------------------------------------------------------------- OBJ
class ObjWriter:
    """Writes one OBJ per frame at disk speed: faces (and UVs) are formatted once and reused, vertex
    lines for many frames at once in numpy (:func:`vertex_lines`), the same bytes as ``"%.6f"``."""

    def __init__(self, template: Template):
        self.n, self.neutral = template.n_vertices, template.vertices
        lines = [f"# voca_cn {template_id(template)}\n"]
        if template.uv is not None:
            lines.append("".join(f"vt {u:.6f} {v:.6f}\n" for u, v in template.uv))
            f = np.concatenate([template.faces[:, :, None], template.faces_uv[:, :, None]], axis=2) + 1
            lines.append("".join("f %d/%d %d/%d %d/%d\n" % tuple(r) for r in f.reshape(-1, 6)))
        else:
            lines.append("".join("f %d %d %d\n" % tuple(r) for r in template.faces + 1))
        self.tail = "".join(lines).encode()

    def frame_bytes(self) -> int:
        """About how many bytes one frame's file takes (the neutral head's)."""
        return len(vertex_lines(self.neutral[None])[0]) + len(self.tail)

    def write(self, path: str | os.PathLike, vertices: np.ndarray) -> None:
        """One OBJ of vertices (N, 3) metres."""
        self.write_many([path], vertices[None])

    def write_many(self, paths: list, vertices: np.ndarray) -> None:
        """One OBJ per frame of vertices (T, N, 3) metres, frame t to ``paths[t]``."""
        step = max(1, 200_000 // self.n)  # frames formatted at once: ~30 MB of text and digits
        for s in range(0, len(vertices), step):
            for path, text in zip(paths[s:s + step], vertex_lines(vertices[s:s + step])):
                with open(path, "wb") as fh:
                    fh.write(text)
                    fh.write(self.tail)


def vertex_lines(vertices: np.ndarray) -> list[bytes]:
    """OBJ vertex lines ``v x y z`` of vertices (T, N, 3) -> one bytes block per frame, the same bytes
    as ``"v %.6f %.6f %.6f\n"``: the text is assembled from whole 4- and 8-byte pieces in numpy, not
    by Python per value (about 8x faster).

    Exact: a float32 times 10^6 is exact in float64 (24 + 14 significant bits), so rounding it
    half-to-even gives the digits ``%.6f`` prints; the sign follows the sign bit, as ``-0.000000``
    does. Each number is 16 bytes: its sign and whole digits right-aligned in 8 (``v `` first on x),
    ``.ddd``, ``ddd `` (``ddd\n`` on z); the zero bytes left of short numbers are then dropped.
    Values beyond 10^5 m (never a head) take the slow path."""
    v = np.asarray(vertices, np.float32)
    t, n = v.shape[:2]
    if t == 0 or not np.abs(v).max() < 1e5:
        return [("v %.6f %.6f %.6f\n" * n % tuple(f.ravel().tolist())).encode() for f in v]
    whole, frac = np.divmod(np.rint(np.abs(v).astype(np.float64) * 1e6).astype(np.int64).reshape(t * n, 3),
                            1_000_000)
    head = (ord("0") + whole % 10) << 56  # little-endian: the units digit is the 8th byte
    digits = np.ones_like(whole)
    for p in range(1, len(str(int(whole.max())))):
        more = whole >= 10 ** p
        head |= np.where(more, (ord("0") + whole // 10 ** p % 10) << (56 - 8 * p), 0)
        digits += more
    head |= np.where(np.signbit(v).reshape(t * n, 3), ord("-") << (56 - 8 * digits), 0)
    head[:, 0] |= ord("v") | ord(" ") << 8
    numbers = np.empty((t * n, 3, 4), "<u4")
    numbers[:, :, :2].view("<u8")[..., 0] = head
    numbers[:, :, 2] = _POINT_DIGITS[frac // 1000]
    numbers[:, :, 3] = _DIGITS_SPACE[frac % 1000]
    numbers[:, 2, 3] -= (ord(" ") - ord("\n")) << 24  # the line ends after z
    text = numbers.view(np.uint8).reshape(t, -1)
    keep = text != 0
    ends = np.cumsum(keep.sum(1))
    flat = text[keep].tobytes()
    return [flat[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends)]


_POINT_DIGITS = np.frombuffer(b"".join(b".%03d" % i for i in range(1000)), "<u4")  # ".000" ... ".999"
_DIGITS_SPACE = np.frombuffer(b"".join(b"%03d " % i for i in range(1000)), "<u4")  # "000 " ... "999 "


def deformed_chunks(template: Template, weights: np.ndarray, chunk: int = 256):
    """Yield (first frame, vertices (<= chunk, N, 3) float32 metres) for weights (T, 52), a chunk at a
    time so that memory stays bounded whatever the length; refuse weights that move vertices to
    infinity."""
    for s in range(0, len(weights), chunk):
        vertices = template.deform(weights[s:s + chunk])
        if not np.isfinite(vertices).all():  # finite but huge weights overflow float32
            raise VocaError(f"weights from frame {s} on move vertices to infinity; "
                            "keep blendshape weights near 0-1")
        yield s, vertices


def write_obj_sequence(directory: Path, template: Template, weights: np.ndarray,
                       progress: bool = True) -> None:
    """meshes/000000.obj ... for weights (T, 52); deformed in chunks so memory stays bounded."""
    from tqdm import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    writer = ObjWriter(template)
    with tqdm(total=len(weights), desc="OBJ", unit="frame", disable=not progress, file=sys.stderr) as bar:
        for s, vertices in deformed_chunks(template, weights):
            writer.write_many([directory / f"{i:06d}.obj" for i in range(s, s + len(vertices))], vertices)
            bar.update(len(vertices))


# ---------------------------------------------------------------------------- output stage
def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse an existing DIR unless --overwrite, and an unwritable parent, before any work."""
    if out.exists() and not overwrite:
        raise VocaError(f"output {out} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise VocaError(f"output {out} exists and is not a directory; choose another --out")
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise VocaError(f"cannot write into {parent}; choose a writable --out")


def check_obj_size(out: Path, template: Template, frames: int, fps: float, asked: bool) -> None:
    """Refuse, before any writing, an OBJ sequence the disk under ``out`` cannot hold, and one larger
    than OBJ_LIMIT unless ``asked`` for (``--obj``)."""
    size = frames * ObjWriter(template).frame_bytes()
    free = shutil.disk_usage(Path(out).resolve().parent).free
    what = f"the OBJ sequence ({frames} files, {frames / fps / 60:.1f} min at {fps:g} fps) takes ~{size / 1e9:.1f} GB"
    if size > OBJ_LIMIT and not asked:
        raise VocaError(f"{what}; pass --obj to write it anyway, or --no-obj (--export pc2 stores the same "
                        "vertex positions in ~1/9 of the space)")
    if size > free:
        raise VocaError(f"{what}, {free / 1e9:.1f} GB are free there; free disk space, or pass --no-obj "
                        "(--export pc2 stores the same vertex positions in ~1/9 of the space)")


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
                  visemes: list[dict] | None = None, fps_in: float = FPS) -> Path:
    """Write the full output set for weights (T, 52) at ``fps_in`` into ``out`` atomically."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2 or weights.shape[1] != 52 or len(weights) == 0 or not np.isfinite(weights).all():
        raise VocaError(f"refusing to write {out}: the weights are not finite T x 52 curves; "
                        "this is a bug, please report it with the input")
    weights = resample_frames(weights, fps_in, options.fps)
    if options.obj is not False:
        check_obj_size(out, template, len(weights), options.fps, asked=options.obj is True)
    with atomic_dir(out, options.overwrite) as tmp:
        save_animation(tmp / "animation.npz", weights, options.fps, template)
        if visemes is not None:
            (tmp / "visemes.json").write_text(json.dumps(visemes, indent=1))
        for name in options.exports:
            write_export(name, tmp, template, weights, options.fps)
        if options.obj is not False:
            write_obj_sequence(tmp / "meshes", template, weights)
        if options.video:
            from voca_cn.render import render_video

            print(f"rendering {len(weights)} frames at {options.width}x{options.height}...", file=sys.stderr)
            if options.beside:
                log_reference_fit(options.beside, len(weights) / options.fps)
            render_video(template, weights, tmp / "preview.mp4", audio_path, fps=options.fps,
                         width=options.width, height=options.height, view=options.view,
                         beside=options.beside)
    return Path(out)


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike, overwrite: bool = False):
    """Yield a temporary sibling of ``out`` to fill; it replaces ``out`` only when the block
    finishes, and is removed if it fails, so no half-written output is ever left behind."""
    out = Path(out)
    check_output_dir(out, overwrite)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.resolve().parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide the result from a team's other users
    except OSError as e:
        raise VocaError(f"cannot create {out} ({_first_line(e)}); choose a writable --out") from None
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as e:  # disk full, quota, a path that cannot be created: one line, no leftovers
        shutil.rmtree(tmp, ignore_errors=True)
        raise VocaError(f"cannot write {out} ({_first_line(e)}); free disk space or choose another --out") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _first_line(e: BaseException) -> str:
    """An exception as one short line (OS errors carry errno text and the path)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__

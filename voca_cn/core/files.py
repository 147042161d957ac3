"""Files out, all or nothing: atomic writes of one file or a whole output folder, byte-stable
npz, and an exception as the one line users see."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from voca_cn import VocaError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling name of ``path`` (same suffix: numpy and Keras choose the format by
    it) to write; it replaces ``path`` when the block finishes and is removed if the block fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write bytes (or text as UTF-8) to ``path`` so readers never see half a file."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


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


def check_output_dir(out: Path, overwrite: bool) -> None:
    """Refuse an existing DIR unless --overwrite, and an unwritable parent, before any work."""
    if out.exists() and not overwrite:
        raise VocaError(f"output {out} already exists; pass --overwrite or choose another --out")
    if out.exists() and not out.is_dir():
        raise VocaError(f"output {out} exists and is not a directory; choose another --out")
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise VocaError(f"cannot write into {parent}; choose a writable --out")


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
        raise VocaError(f"cannot create {out} ({one_line(e)}); choose a writable --out") from None
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as e:  # disk full, quota, a path that cannot be created: one line, no leftovers
        shutil.rmtree(tmp, ignore_errors=True)
        raise VocaError(f"cannot write {out} ({one_line(e)}); free disk space or choose another --out") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def one_line(e: BaseException) -> str:
    """An exception as one short line (OS errors carry errno text and the path)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__

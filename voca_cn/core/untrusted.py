"""What an input file may make voca-cn do: the two rules every reader of user files follows.

- :func:`confined`: a file reference made *by an input* (a glTF buffer or image URI, a path in a
  web request, a batch line's id) names a file inside one folder, never outside it: no absolute
  paths, no ``..`` out of it, no symlink out of it, no NUL byte, no name the file system refuses.
- :func:`read_json`: JSON from a file or a socket, bounded in size and nesting depth, with a
  malformed document as one :class:`VocaError` line; :func:`expect` checks a value's JSON type
  where the reader takes it, so a list where an object belongs is named, not a TypeError.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from voca_cn import VocaError

MAX_JSON_BYTES = 256 * 2**20  # a glTF's JSON chunk of a large avatar is a few MB
MAX_DEPTH = 64  # glTF, ARKit JSON and manifests nest < 10 levels


class Outside(VocaError):
    """An input named a file it may not make voca-cn read (see :func:`confined`)."""


def confined(folder: str | os.PathLike, reference: str, what: str) -> Path:
    """``reference`` (relative, '/'-separated, as an input wrote it) resolved inside ``folder``.

    Raises :class:`Outside` (a VocaError) naming ``what`` when it is absolute, reaches outside ``folder`` (``..``, a
    symlink), holds a NUL byte or cannot be a file name here (too long)."""
    fix = f"{what} must name a file inside {folder} (or embed its data)"
    if not isinstance(reference, str) or not reference or "\0" in reference:
        raise Outside(f"{what} {reference!r} is not a usable file name; {fix}")
    if reference.startswith(("/", "\\")) or Path(reference).is_absolute() or ":" in reference.split("/")[0]:
        raise Outside(f"{what} {reference[:80]!r} is an absolute path or URL; {fix}")
    base = Path(folder).resolve()
    try:
        target = (base / reference).resolve()
    except (OSError, RuntimeError, ValueError):  # name too long, symlink loop
        raise Outside(f"{what} {reference[:80]!r} cannot be a file name here; {fix}") from None
    if target != base and base not in target.parents:
        raise Outside(f"{what} {reference[:80]!r} points outside {folder}; {fix}")
    return target


def read_json(data: bytes | str, what: str, fix: str, max_bytes: int = MAX_JSON_BYTES) -> object:
    """Parse JSON text (bytes as UTF-8) at most ``max_bytes`` long and :data:`MAX_DEPTH` deep.

    Raises VocaError '``what`` is not valid JSON (...); ``fix``' for anything else."""
    if len(data) > max_bytes:
        raise VocaError(f"{what} is {len(data) / 2**20:.0f} MB of JSON, more than the "
                        f"{max_bytes / 2**20:.0f} MB allowed; {fix}")
    try:
        text = data.decode("utf-8-sig") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise VocaError(f"{what} nests deeper than {MAX_DEPTH} levels; {fix}") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise VocaError(f"{what} is not valid JSON ({str(e).splitlines()[0][:120]}); {fix}") from None
    if _depth(value) > MAX_DEPTH:
        raise VocaError(f"{what} nests deeper than {MAX_DEPTH} levels; {fix}")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")  # NaN / Infinity: Python extensions, not JSON


def _depth(value: object) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


_JSON_TYPE = {dict: "an object", list: "an array", str: "a string", float: "a number", int: "a whole number",
              bool: "true or false"}


def expect(value: object, kind: type | tuple[type, ...], where: str) -> object:
    """``value`` if it is of JSON type ``kind`` (numbers: int or float, never a boolean), else a
    VocaError naming ``where``: 'fps must be a number, not true'."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds += (int,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        shown = json.dumps(value)[:40] if _plain(value) else type(value).__name__
        raise VocaError(f"{where} must be {' or '.join(_JSON_TYPE.get(k, k.__name__) for k in kinds[:1])}, "
                        f"not {shown}")
    return value


def _plain(value: object) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError, RecursionError):
        return False

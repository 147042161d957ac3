"""The lines of a batch: a folder of audio files (same-named ``.txt`` files are transcripts) or a
manifest (``.csv`` with a header row, or ``.jsonl``) with ``id, audio`` and optionally ``text,
language, template, style, export, living``; every row checked, bad rows returned as failures with their reason."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

from voca_cn import VocaError
from voca_cn.core import bounds
from voca_cn.core.untrusted import read_json
from voca_cn.formats import EXPORTS, parse_exports
from voca_cn.motion.living import Living, parse_living

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


COLUMNS = ("id", "audio", "text", "language", "template", "style", "export", "living")


# extra outputs a line can ask for, beyond animation.npz + visemes.json: OUTPUTS (OBJ sequence,
# preview video) and the exporters' formats (voca_cn.formats.EXPORTS: glb, livelink, arkit-json)
OUTPUTS = ("obj", "video")


RESERVED = {"done.jsonl", "failures.jsonl", "summary.json", ".lock"}


_ID_PART = re.compile(r"[^/\\\x00-\x1f]+")


@dataclass(frozen=True)
class Line:
    """One dialogue line: its id (a relative folder name under OUT), audio path and options."""

    id: str
    audio: str
    text: str | None = None
    language: str = "auto"  # the transcript's (voca_cn.speech.g2p.resolve)
    template: str = "makehuman"
    jaw: float = 1.0
    lip: float = 1.0
    exports: tuple[str, ...] = ()
    living: Living = Living()  # blinks, gaze, brows, head: scales and seed


@dataclass
class Result:
    """What a worker reports for one line. ``fatal`` marks a problem no line can get past
    (the model folder), which stops the batch. ``disagreement``: the animation's
    (:attr:`voca_cn.api.Animation.disagreement`)."""

    id: str
    seconds: float = 0.0
    disagreement: float | None = None
    reason: str | None = None
    fatal: bool = False


def read_lines(source: Path, defaults: Line) -> tuple[list[Line], list[Result]]:
    """Lines of a folder or manifest, validated; rows that are not valid come back as failures.

    ``defaults`` holds the command line's template, style and exports (``id``/``audio`` unused).
    Raises VocaError when the source itself cannot be read (no such file, unknown columns,
    duplicate ids): then there is nothing to start."""
    if source.is_dir():
        lines, bad = _folder_lines(source, defaults)
    elif source.is_file():
        rows = _manifest_rows(source)
        lines, bad = [], []
        for n, row in rows:
            try:
                lines.append(_row_line(row, source.parent, defaults))
            except ValueError as e:
                rid = row.get("id") if isinstance(row, dict) and isinstance(row.get("id"), str) else f"row {n}"
                bad.append(Result(rid, reason=f"{source.name} row {n}: {e}"))
    else:
        raise VocaError(f"{source} does not exist; give a folder of audio files or a .csv/.jsonl manifest")
    if not lines and not bad:
        raise VocaError(f"{source} has no lines; give a manifest with a row per line (id, audio, ...)")
    seen: dict[str, str] = {}
    for line in lines:
        key = line.id.lower()  # case-insensitive file systems would merge these folders
        if key in seen:
            raise VocaError(f"line id {line.id!r} appears twice ({seen[key]} and {line.audio}); "
                            "give every line its own id")
        seen[key] = line.audio
    _check_nesting(seen)
    return lines, bad


def _check_nesting(ids: dict[str, str]) -> None:
    """Refuse an id that is another id's folder (``x`` and ``x/y``): writing line x replaces the
    folder OUT/x, and with it line x/y's output."""
    for key in ids:
        parts = key.split("/")
        for k in range(1, len(parts)):
            parent = "/".join(parts[:k])
            if parent in ids:
                raise VocaError(f"line id {parent!r} is the folder of line id {key!r}: one would overwrite "
                                f"the other; rename one of them (e.g. {parent}/main)")


def _folder_lines(folder: Path, defaults: Line) -> tuple[list[Line], list[Result]]:
    """Audio files under ``folder`` (any depth, sorted); id = relative path without suffix.
    Lines whose name or transcript is unusable come back as failures."""
    lines, bad = [], []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(folder).with_suffix("").as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue  # hidden files and folders (editors' and our own temporaries)
        transcript = path.with_suffix(".txt")
        try:
            text = transcript.read_text(encoding="utf-8", errors="replace") if transcript.is_file() else None
            lines.append(replace(defaults, id=_check_id(rel), audio=str(path), text=_text(text)))
        except (OSError, ValueError) as e:
            bad.append(Result(rel, reason=f"{path.name}: {e}"))
    if not lines and not bad:
        raise VocaError(f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)}); give the folder of lines")
    return lines, bad


def _manifest_rows(path: Path) -> list[tuple[int, object]]:
    """(row number, dict or the reason it is not one) for each data row of a CSV or JSONL file."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise VocaError(f"cannot read manifest {path} ({e}); give a UTF-8 .csv or .jsonl file") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, text in enumerate(raw.splitlines(), start=1):
            if not text.strip():
                continue
            try:
                row = read_json(text, "the row", "", MAX_ROW_BYTES)
            except VocaError:  # a half-written last line (a killed editor or script) included
                row = f"is not valid JSON ({text.strip()[:40]!r})"
            rows.append((n, row if isinstance(row, (dict, str)) else "is not a JSON object"))
        return rows
    if path.suffix.lower() != ".csv":
        raise VocaError(f"manifest {path} must end in .csv or .jsonl (or give a folder of audio files)")
    try:
        reader = csv.DictReader(raw.splitlines())
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in COLUMNS]
        if unknown or "id" not in header or "audio" not in header:
            raise VocaError(f"manifest {path}: columns must be id, audio and any of text, language, "
                            f"template, style, export, living; found {', '.join(map(repr, header)) or 'none'}")
        return [(n, row) for n, row in enumerate(reader, start=2)]
    except csv.Error as e:
        raise VocaError(f"manifest {path} is not valid CSV ({e})") from None


def _row_line(row: object, base: Path, defaults: Line) -> Line:
    """A manifest row -> Line, every field checked; ValueError names the bad field."""
    if isinstance(row, str):
        raise ValueError(row)
    unknown = [k for k in row if k not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; use {', '.join(COLUMNS)}")
    get = {k: (None if v is None or v == "" else v) for k, v in row.items()}
    for k in ("id", "audio", "text", "language", "template"):
        if get.get(k) is not None and not isinstance(get[k], str):
            raise ValueError(f"{k} must be text, not {get[k]!r}")
    if get.get("id") is None or get.get("audio") is None:
        raise ValueError("needs an id and an audio path")
    if "\0" in get["audio"] or "\0" in (get.get("template") or ""):
        raise ValueError("a path holds a NUL byte; give the file's real name")
    audio = Path(get["audio"])
    jaw, lip = _style(get.get("style"), defaults)
    if get.get("language") is not None:
        from voca_cn.speech.g2p import resolve

        try:
            resolve(get["language"], get.get("text") or "")
        except VocaError as e:
            raise ValueError(str(e)) from None
    return Line(id=_check_id(get["id"]), audio=str(audio if audio.is_absolute() else base / audio),
                text=_text(get.get("text")), language=get.get("language") or defaults.language,
                template=get.get("template") or defaults.template,
                jaw=jaw, lip=lip, exports=_exports(get["export"]) if get.get("export") is not None else defaults.exports,
                living=_living(get.get("living"), defaults))


def _check_id(rid: str) -> str:
    """Line ids become folders under OUT: relative, no '..', no hidden names, nothing under the
    batch's own files (``done.jsonl/x``), each level at most :data:`MAX_PART_BYTES` and the whole
    at most :data:`MAX_ID_BYTES` (file systems refuse longer names)."""
    parts = rid.split("/")
    if not all(_ID_PART.fullmatch(p) and not p.startswith(".") and p.strip() == p for p in parts):
        raise ValueError(f"id {rid[:60]!r} cannot be a folder name; use letters, digits, '-', '_' "
                         "(and '/' between folder levels), not starting with '.'")
    if parts[0].lower() in RESERVED:
        raise ValueError(f"id {rid[:60]!r} would be inside the batch's own {parts[0]}; choose another id")
    size = len(rid.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES or max(len(p.encode("utf-8", "surrogatepass")) for p in parts) > MAX_PART_BYTES:
        raise ValueError(f"id {rid[:40]!r}... is {size} bytes; ids may have at most {MAX_ID_BYTES} bytes, "
                         f"{MAX_PART_BYTES} per folder level")
    return rid


MAX_PART_BYTES = 200  # + '.part' temporaries stays under the 255-byte name limit
MAX_ID_BYTES = 400
MAX_ROW_BYTES = 1 << 20


def _text(text: str | None) -> str | None:
    """A transcript, or None when there are no words in it (then the audio alone drives the line)."""
    return text if text is not None and text.strip() else None


def _style(value: object, defaults: Line) -> tuple[float, float]:
    """``style``: 'jaw=1.2 lip=0.8' (space, comma or semicolon separated) or {"jaw": 1.2, ...}."""
    if value is None:
        return defaults.jaw, defaults.lip
    if isinstance(value, str):
        pairs = [p.split("=", 1) for p in re.split(r"[\s,;]+", value.strip()) if p]
        if not all(len(p) == 2 for p in pairs):
            raise ValueError(f"style {value!r} must look like 'jaw=1.2 lip=0.8'")
        value = dict(pairs)
    if not isinstance(value, dict) or set(value) - {"jaw", "lip"}:
        raise ValueError(f"style {value!r} may set only jaw and lip, e.g. 'jaw=1.2 lip=0.8'")
    out = []
    for name, bound, default in (("jaw", bounds.JAW, defaults.jaw), ("lip", bounds.LIP, defaults.lip)):
        try:
            out.append(bound.check(value[name]) if name in value else default)
        except ValueError as e:
            raise ValueError(f"style {name}: {e}") from None
    return out[0], out[1]


def _living(value: object, defaults: Line) -> Living:
    """``living``: 'blink=0 head=0.5 seed=3', {"head": 0.5} or 'off' (mouth only), over the command line's."""
    if value is None:
        return defaults.living
    try:
        return parse_living(value, defaults.living)
    except VocaError as e:
        raise ValueError(str(e)) from None


def _exports(value: object) -> tuple[str, ...]:
    """``export``: 'obj,glb' or ["obj", "glb"]; 'none' for only animation.npz + visemes.json."""
    try:
        return parse_exports(value, OUTPUTS + tuple(EXPORTS))
    except VocaError as e:
        raise ValueError(str(e)) from None


def export_list(text: str) -> tuple[str, ...]:
    """argparse type for ``batch --export``."""
    import argparse

    try:
        return _exports(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None

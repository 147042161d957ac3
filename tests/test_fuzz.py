"""Property-based tests of every loader and writer: whatever the input, either a one-line
VocaError or a finite result; never another exception, never a non-finite value on disk.

CI runs a few dozen examples per test (profile ``ci``); ``python benchmarks/fuzz.py`` runs the
same properties on >= 10,000 generated inputs (profile ``benchmark``).
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voca_cn import VocaError
from voca_cn.apps.batch import Line, read_lines
from voca_cn.audio.load import load
from voca_cn.formats import load_animation, resolve
from voca_cn.formats.obj import read_mesh
from voca_cn.formats.outputs import OutputOptions, write_outputs

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("benchmark", max_examples=int(os.environ.get("VOCA_CN_FUZZ_EXAMPLES", "1500")),
                          deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("VOCA_CN_FUZZ_PROFILE", "ci"))
# CI keeps the suite fast: the loaders added for avatars, curves, manifests and the viewer get fewer
# examples there (``ci``: 40 each above, these 25); the benchmark gives every property the same count.
FEW = settings(max_examples=25) if os.environ.get("VOCA_CN_FUZZ_PROFILE", "ci") == "ci" else settings()

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
NUMBERS = st.one_of(FLOATS, st.integers(-2**40, 2**40), st.sampled_from(["nan", "inf", "-1", "1e999", "0x10", ""]))


def _one_line(e: VocaError) -> None:
    assert str(e).strip() and "\n" not in str(e).strip()


def _animation_or_one_line(path: Path) -> None:
    """Any animation file: finite (T, 52) weights at 1-240 fps, or a one-line refusal."""
    try:
        w, fps = load_animation(path)
    except VocaError as e:
        _one_line(e)
        return
    assert w.ndim == 2 and w.shape[1] == 52 and len(w) > 0 and np.isfinite(w).all() and 1 <= fps <= 240


SCRATCH = Path(tempfile.mkdtemp(prefix="voca-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, True)


def _scratch(name: str, data: bytes) -> Path:
    """``name`` in a scratch folder, holding ``data`` (hypothesis runs a test body many times
    within one pytest ``tmp_path``; examples run one after another, so one name per test is reused)."""
    path = SCRATCH / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def speech_clip(speech) -> np.ndarray:
    return load(speech[0])


# ---------------------------------------------------------------------------- audio
SUBTYPES = {"WAV": ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"],
            "FLAC": ["PCM_16", "PCM_24"], "OGG": ["VORBIS"]}


@st.composite
def audio_files(draw) -> tuple[str, bytes]:
    """Real encoder output with random rate, channels, sample type and payload, then maybe
    truncated, overwritten in places, or replaced by random bytes."""
    fmt = draw(st.sampled_from(sorted(SUBTYPES)))
    subtype = draw(st.sampled_from(SUBTYPES[fmt]))
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000, 12345]))
    channels = draw(st.integers(1, 3))
    n = draw(st.integers(0, 4000))
    kind = draw(st.sampled_from(["noise", "tone", "silence", "loud", "special"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "noise":
        x = rng.standard_normal((n, channels)) * 0.3
    elif kind == "tone":
        x = np.repeat(np.sin(np.arange(n) * 0.05)[:, None], channels, 1) * 0.5
    elif kind == "silence":
        x = np.zeros((n, channels))
    elif kind == "loud":
        x = rng.standard_normal((n, channels)) * 1e6
    else:
        x = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, -1e30]), (n, channels))
    if subtype not in ("FLOAT", "DOUBLE"):  # libsndfile's other encoders abort or crash on non-finite or
        x = np.nan_to_num(np.clip(x, -1, 1))  # out-of-range input; float WAVs carry them to the loader
    buf = io.BytesIO()
    try:
        sf.write(buf, x.astype(np.float64), rate, subtype=subtype, format=fmt)
    except Exception:  # noqa: BLE001 - the encoder refuses (e.g. FLAC and NaN samples)
        buf = io.BytesIO(b"RIFF")
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "truncate", "overwrite", "random"]))
    if damage == "truncate" and data:
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "overwrite" and data:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif damage == "random":
        data = bytearray(draw(st.binary(max_size=2000)))
    suffix = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg"}[fmt]
    return draw(st.sampled_from([suffix, ".mp3", ".wav"])), bytes(data)


@given(audio_files())
def test_audio_loader_never_crashes_and_never_returns_non_finite(case):
    suffix, data = case
    try:
        y = load(_scratch("a" + suffix, data))
    except VocaError as e:
        _one_line(e)
        return
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) > 0
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0


# ---------------------------------------------------------------------------- meshes
TOKENS = st.one_of(st.sampled_from(["v", "vt", "vn", "f", "#", "o", "g", "s", "/", "//", "\n", " ", "\t", "\r\n"]),
                   NUMBERS.map(str), st.integers(-5, 5000).map(str), st.text(max_size=4))


@st.composite
def obj_texts(draw) -> bytes:
    """OBJ-like text: the makehuman head with lines dropped, swapped or broken, or token soup."""
    if draw(st.booleans()):
        base = _makehuman_obj().splitlines(keepends=True)
        lines = draw(st.lists(st.integers(0, len(base) - 1), max_size=30))
        out = list(base)
        for i in lines:
            op = draw(st.sampled_from(["drop", "garble", "dup"]))
            if op == "drop":
                out[i] = ""
            elif op == "garble":
                out[i] = " ".join(draw(st.lists(TOKENS, max_size=6))) + "\n"
            else:
                out[i] = out[i] * 2
        return "".join(out).encode("utf-8", "surrogatepass")
    return " ".join(draw(st.lists(TOKENS, max_size=60))).encode("utf-8", "surrogatepass")


_OBJ: list[str] = []


def _makehuman_obj() -> str:
    if not _OBJ:
        from voca_cn.formats.obj import ObjWriter

        t = resolve("makehuman")
        path = _scratch("head.obj", b"")
        ObjWriter(t).write(path, t.vertices)
        _OBJ.append(path.read_text())
    return _OBJ[0]


@given(obj_texts())
def test_obj_template_loader(data):
    try:
        t = resolve(_scratch("head.obj", data))
    except VocaError as e:
        _one_line(e)
        return
    assert np.isfinite(t.vertices).all() and t.faces.max() < t.n_vertices


@given(st.sampled_from(["ascii", "binary_little_endian"]), st.integers(0, 5), st.integers(0, 5),
       st.lists(NUMBERS.map(str), max_size=40), st.binary(max_size=200))
def test_ply_loader(fmt, nv, nf, numbers, tail):
    header = (f"ply\nformat {fmt} 1.0\nelement vertex {nv}\nproperty float x\nproperty float y\n"
              f"property float z\nelement face {nf}\nproperty list uchar int vertex_indices\nend_header\n")
    body = " ".join(numbers).encode() if fmt == "ascii" else tail
    try:
        v, f = read_mesh(_scratch("m.ply", header.encode() + body))
    except VocaError as e:
        _one_line(e)
        return
    assert np.isfinite(v).all() and v.shape[1] == 3


# ---------------------------------------------------------------------------- animation NPZ
ARRAYS = st.one_of(
    st.tuples(st.integers(0, 4), st.integers(0, 60)).flatmap(
        lambda s: st.lists(FLOATS, min_size=s[0] * s[1], max_size=s[0] * s[1]).map(
            lambda xs, s=s: np.array(xs, np.float32).reshape(s))),
    st.lists(FLOATS, max_size=5).map(np.array),
    st.sampled_from([np.array("text"), np.array([1, 2], np.int8), np.array(3 + 4j), np.zeros((2, 52), np.float16),
                     np.zeros((0, 52)), np.ones((3, 52), bool)]),
)


@given(st.dictionaries(st.sampled_from(["weights", "fps", "names", "other"]), st.one_of(ARRAYS, FLOATS.map(np.float64)),
                       max_size=4),
       st.sampled_from(["npz", "truncated", "bytes"]), st.binary(max_size=300))
def test_animation_loader(arrays, kind, noise):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if kind == "truncated":
        data = data[:len(data) // 2]
    elif kind == "bytes":
        data = b"PK\x03\x04" + noise
    try:
        w, fps = load_animation(_scratch("a.npz", data))
    except VocaError as e:
        _one_line(e)
        return
    assert w.ndim == 2 and w.shape[1] == 52 and len(w) > 0 and np.isfinite(w).all() and 1 <= fps <= 240


# ---------------------------------------------------------------------------- writer
@given(st.integers(1, 4).flatmap(lambda n: st.lists(FLOATS, min_size=n * 52, max_size=n * 52)),
       st.sampled_from([30, 60, 24]), st.booleans())
def test_writer_never_writes_non_finite_values(values, fps, obj):
    from voca_cn.formats.obj import read_obj

    w = np.array(values, np.float32).reshape(-1, 52)
    out = SCRATCH / "out"
    shutil.rmtree(out, ignore_errors=True)
    try:
        write_outputs(out, _template(), w, None, OutputOptions(obj=obj, video=False, fps=fps), visemes=[])
    except VocaError as e:
        _one_line(e)
        assert not out.exists() and not list(out.parent.glob(".*.part"))
        return
    with np.load(out / "animation.npz") as z:
        assert np.isfinite(z["weights"]).all()
    for path in (out / "meshes").glob("*.obj") if obj else []:
        assert np.isfinite(read_obj(path)[0]).all()
    assert json.loads((out / "visemes.json").read_text()) == []


_TEMPLATE: list = []


def _template():
    if not _TEMPLATE:
        _TEMPLATE.append(resolve("makehuman"))
    return _TEMPLATE[0]


# ---------------------------------------------------------------------------- transcripts
@given(st.text(max_size=200))
def test_transcript_words_from_any_unicode(text):
    from voca_cn.speech.align import normalise

    words = normalise(text)
    assert all(w.isascii() and w for w in words)
    lines, bad = read_lines(_manifest_folder({"id": "x", "audio": "a.wav", "text": text}), Line("", ""))
    assert not bad and (lines[0].text is None or lines[0].text == text)


@settings(max_examples=int(os.environ.get("VOCA_CN_FUZZ_ALIGN_EXAMPLES", "6")))
@given(st.lists(st.one_of(st.sampled_from(["bob", "bought", "a", "map", "xqzt", "3", "don't", "'", "ü"]),
                          st.text(max_size=8)), max_size=8).map(" ".join))
def test_forced_alignment_of_any_transcript(speech_clip, text):
    """Full alignment (pocketsphinx + espeak-ng letter-to-sound) of any text against real speech."""
    from voca_cn.speech.align import Aligner

    try:
        phones, _ = Aligner().align(speech_clip, text)
    except VocaError as e:
        _one_line(e)
        return
    assert all(np.isfinite([p.start, p.end]).all() and p.start <= p.end for p in phones)


# ---------------------------------------------------------------------------- manifests
FIELDS = st.sampled_from(["id", "audio", "text", "template", "style", "export", "jaw", "Id", ""])
VALUES = st.one_of(st.text(max_size=12), NUMBERS, st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
                   st.dictionaries(st.sampled_from(["jaw", "lip", "x"]), NUMBERS, max_size=3),
                   st.sampled_from(["jaw=nan", "jaw=-1 lip=2", "lip=1e999", "jaw=0.5;lip=1.5", "obj,video", "glb",
                                    "../up", "a/../b", ".hidden", "summary.json", "a/b"]))


def _manifest_folder(row: dict) -> Path:
    return _scratch("m.jsonl", (json.dumps(row) + "\n").encode())


@given(st.lists(st.dictionaries(FIELDS, VALUES, max_size=7), max_size=6), st.sampled_from(["jsonl", "csv", "raw"]),
       st.binary(max_size=100))
def test_manifest_reader(rows, kind, noise):
    if kind == "jsonl":
        data = "\n".join(json.dumps(r) for r in rows).encode()
    elif kind == "csv":
        import csv

        buf = io.StringIO()
        fields = sorted({k for r in rows for k in r}) or ["id"]
        writer = csv.DictWriter(buf, fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if v is None else v for k, v in r.items()})
        data = buf.getvalue().encode("utf-8", "surrogatepass")
    else:
        data = noise
    path = _scratch(f"m.{'csv' if kind == 'raw' else kind}", data)
    try:
        lines, bad = read_lines(path, Line("", ""))
    except VocaError as e:
        _one_line(e)
        return
    for line in lines:
        assert 0 <= line.jaw <= 2 and 0 <= line.lip <= 2 and np.isfinite([line.jaw, line.lip]).all()
        assert ".." not in line.id.split("/") and not line.id.startswith("/") and line.id
        assert set(line.exports) <= {"obj", "video", "glb", "livelink", "arkit-json"}
    for r in bad:
        assert r.reason and "\n" not in r.reason


def test_zip_members_are_what_numpy_reads(tmp_path):
    """save_npz writes a plain NPZ (fixed member timestamps only)."""
    from voca_cn.core.files import save_npz

    save_npz(tmp_path / "a.npz", x=np.arange(3.0), s=np.str_("hi"))
    with np.load(tmp_path / "a.npz") as z:
        assert z["x"].tolist() == [0, 1, 2] and str(z["s"]) == "hi"
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_streamed_file_reading_gives_the_samples_of_one_shot_resampling(tmp_path):
    """audio.load resamples block by block (soxr's stream): the same samples as audio.prepare on
    the whole signal, over block seams (70 s = 3 blocks), for stereo 44.1 kHz and mono 22.05 kHz."""
    from voca_cn.audio.load import prepare

    rng = np.random.default_rng(3)
    for rate, channels in ((44100, 2), (22050, 1)):
        x = (rng.standard_normal((rate * 70, channels)) * 0.1).astype(np.float32)
        path = tmp_path / f"{rate}.wav"
        sf.write(path, x, rate, subtype="FLOAT")
        y = load(path)
        assert y.dtype == np.float32 and len(y) == 70 * 16000
        assert np.array_equal(y, prepare(x, rate))


# ---------------------------------------------------------------------------- glTF / GLB / VRM
def _json_values(max_leaves: int = 6):
    """Any JSON value, wrong types and absurd numbers included."""
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), FLOATS.filter(lambda x: x == x and abs(x) < 1e300),
                       st.text(max_size=8), st.sampled_from(["../secret.bin", "/etc/passwd", "%2e%2e/x", "data:,", "a" * 300,
                                                             "data:application/octet-stream;base64,AAAA", "mesh.bin\0"]))
    return st.recursive(leaves, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), kids, max_size=3)),
                        max_leaves=max_leaves)


def _paths(value, prefix=()):
    """Every (path, value) inside a parsed JSON document."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def gltf_files(draw) -> tuple[str, bytes]:
    """The tiny one-triangle glTF with parts of its JSON replaced by any JSON value, deeply nested
    arrays, its binary overwritten or cut, written as .glb, .vrm or .gltf (buffer as data URI or
    a URI of the strategy's choosing)."""
    import copy

    from gltf_assets import tiny_gltf, write_gltf

    doc, data = tiny_gltf(draw(st.sampled_from([(0.0, 1 / 60, 2 / 60), (0.0, 0.04), (1.0, 0.5, 0.0), (0.0,), ()])))
    doc = copy.deepcopy(doc)
    spots = list(_paths(doc))
    for _ in range(draw(st.integers(0, 4))):
        path, _ = spots[draw(st.integers(1, len(spots) - 1))]
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            parent[path[-1]] = draw(st.one_of(_json_values(), st.integers(1, 400).map(
                lambda n: json.loads("[" * n + "]" * n) if n < 200 else None)))
        except (KeyError, IndexError, TypeError):
            pass
    data = bytearray(data)
    if data and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 6))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    suffix = draw(st.sampled_from([".glb", ".vrm", ".gltf"]))
    uri = draw(st.one_of(st.none(), st.sampled_from(["mesh.bin", "../secret.bin", "/etc/hostname", "%6Desh.bin",
                                                      "sub/../mesh.bin", "a" * 5000])))
    (SCRATCH / "g").mkdir(exist_ok=True)
    (SCRATCH / "g" / "mesh.bin").write_bytes(bytes(data))
    (SCRATCH / "secret.bin").write_bytes(bytes(data))
    path = SCRATCH / "g" / f"a{suffix}"
    try:
        write_gltf(path, doc, bytes(data), uri)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):  # the mutation broke the writer's own walk
        path.write_text(json.dumps(doc))
    raw = path.read_bytes()
    if draw(st.integers(0, 9)) == 0:
        raw = raw[:draw(st.integers(0, len(raw)))]
    return suffix, raw


@FEW
@given(gltf_files())
def test_gltf_avatar_and_animation_loaders(case):
    suffix, raw = case
    path = SCRATCH / "g" / f"a{suffix}"
    path.write_bytes(raw)
    try:
        t = resolve(path)
        assert np.isfinite(t.vertices).all() and np.isfinite(t.basis).all() and t.faces.max(initial=0) < t.n_vertices
    except VocaError as e:
        _one_line(e)
    _animation_or_one_line(path)


def test_gltf_uri_outside_the_folder_is_refused_not_read():
    """The property's deterministic corner: a buffer at ../secret.bin that would parse."""
    from gltf_assets import tiny_gltf, write_gltf

    doc, data = tiny_gltf()
    (SCRATCH / "g").mkdir(exist_ok=True)
    (SCRATCH / "secret.bin").write_bytes(data)
    with pytest.raises(VocaError, match="outside"):
        load_animation(write_gltf(SCRATCH / "g" / "o.gltf", doc, data, "../secret.bin"))


# ---------------------------------------------------------------------------- Live Link CSV
TIMECODES = st.one_of(
    st.tuples(st.integers(0, 30), st.integers(0, 59), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999)).map(
        lambda t: f"{t[0]:02d}:{t[1]:02d}:{t[2]:02d}:{t[3]:02d}.{t[4]:03d}"),
    st.sampled_from(["", "00:00:00", "00:00:00:60.000", "-1:00:00:00", "00:00:00:nan", "00:00:00:00.5e3", "x:y:z:w",
                     "00:00:00:01:02", "99:99:99:99"]),
    st.text(max_size=12))
COLUMNS = st.sampled_from(["Timecode", "BlendShapeCount", "JawOpen", "jawopen", "EyeBlinkLeft", "MouthClose",
                           "HeadYaw", "MouthOpen", "", "timecode", "Timecode "])


@FEW
@given(st.lists(COLUMNS, max_size=6), st.lists(st.tuples(TIMECODES, st.lists(NUMBERS.map(str), max_size=6)), max_size=8),
       st.booleans())
def test_livelink_csv_reader(header, rows, written):
    from voca_cn.formats.curves import write_livelink

    path = SCRATCH / "l.csv"
    if written and rows:  # a real file, then rows shuffled or dropped by the strategy
        write_livelink(path, np.random.default_rng(len(rows)).random((len(rows), 52)), 30)
        lines = path.read_text().splitlines()
        keep = [lines[0]] + [lines[1 + (i * 7) % (len(lines) - 1)] for i in range(len(rows))]
        path.write_text("\n".join(keep) + "\n")
    else:
        path.write_text("\n".join([",".join(header)] + [",".join([t, *vals]) for t, vals in rows]) + "\n",
                        encoding="utf-8", errors="surrogatepass")
    _animation_or_one_line(path)


# ---------------------------------------------------------------------------- ARKit JSON
FRAME_KEYS = st.sampled_from(["jawOpen", "JawOpen", "mouthClose", "eyeBlinkLeft", "MouthOpen", "", "fps"])


@FEW
@given(st.one_of(
    st.fixed_dictionaries({"fps": st.one_of(NUMBERS, st.booleans(), st.none(), st.text(max_size=4)),
                           "frames": st.lists(st.one_of(st.dictionaries(FRAME_KEYS, st.one_of(NUMBERS, _json_values(2)),
                                                                        max_size=4), _json_values(3)), max_size=6)}),
    _json_values(8)), st.integers(0, 300))
def test_arkit_json_reader(doc, depth):
    path = SCRATCH / "a.json"
    text = json.dumps(doc, allow_nan=True) if depth < 250 else "[" * depth * 400 + "]" * depth * 400
    path.write_text(text)
    _animation_or_one_line(path)


# ---------------------------------------------------------------------------- JSONL manifests
ROW_TEXT = st.one_of(
    st.dictionaries(FIELDS, VALUES, max_size=6).map(json.dumps),
    st.dictionaries(FIELDS, VALUES, max_size=6).map(lambda r: json.dumps(r)[:len(json.dumps(r)) // 2]),  # torn
    st.integers(1, 2000).map(lambda n: '{"id": ' + "[" * n + "]" * n + ', "audio": "a.wav"}'),
    st.sampled_from(['{"id": "done.jsonl/x", "audio": "a.wav"}', '{"id": "x", "audio": "a\\u0000.wav"}',
                     '{"id": "' + "\u00e9" * 300 + '", "audio": "a.wav"}', '{"id": "x/y", "audio": "a.wav"}',
                     '{"id": "x", "audio": "a.wav"}', "[]", "null", "NaN", '{"id": 1e999}']),
    st.text(max_size=30))


@FEW
@given(st.lists(ROW_TEXT, max_size=6))
def test_jsonl_manifest_and_corpus_manifest_readers(rows):
    from voca_cn.training.corpus import read_manifest

    path = _scratch("m.jsonl", "\n".join(rows).encode("utf-8", "surrogatepass"))
    try:
        lines, bad = read_lines(path, Line("", ""))
    except VocaError as e:
        _one_line(e)
    else:
        ids = {line.id.lower() for line in lines}
        assert len(ids) == len(lines) and not any(i.split("/")[0] in {"done.jsonl", "failures.jsonl", "summary.json"}
                                                  for i in ids)
        assert not any("/".join(i.split("/")[:k]) in ids for i in ids for k in range(1, i.count("/") + 1))
        assert all(len(line.id.encode("utf-8", "surrogatepass")) <= 400 and "\0" not in line.audio for line in lines)
        assert all(r.reason and "\n" not in r.reason for r in bad)
    (SCRATCH / "corpus").mkdir(exist_ok=True)
    (SCRATCH / "corpus" / "manifest.jsonl").write_bytes(path.read_bytes())
    assert all(isinstance(r, dict) and isinstance(r["id"], str) for r in read_manifest(SCRATCH / "corpus"))


# ---------------------------------------------------------------------------- the viewer's HTTP server
_VIEWER: list = []


def _viewer_port() -> int:
    """The viewer's real server (tiny animation.glb, the example audio), started once."""
    if not _VIEWER:
        import threading

        from gltf_assets import tiny_gltf, write_gltf

        from voca_cn.apps.viewer import make_server

        three = SCRATCH / "three"
        (three / "build").mkdir(parents=True, exist_ok=True)
        (three / "build" / "three.module.js").write_text("export {};\n")
        (SCRATCH / "view").mkdir(exist_ok=True)
        write_gltf(SCRATCH / "view" / "animation.glb", *tiny_gltf())
        audio = Path(__file__).resolve().parent.parent / "data" / "examples" / "hello.wav"
        # only this server gets the stand-in three.js: the variable would reach later tests' real viewers
        before = os.environ.get("VOCA_CN_THREE")
        os.environ["VOCA_CN_THREE"] = str(three)
        try:
            server = make_server(SCRATCH / "view", 0, audio)
        finally:
            if before is None:
                del os.environ["VOCA_CN_THREE"]
            else:
                os.environ["VOCA_CN_THREE"] = before
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _VIEWER.append(server.server_address[1])
    return _VIEWER[0]


REQUEST_PATHS = st.one_of(st.sampled_from(["/", "/main.js", "/data/audio", "/data/animation.glb", "/data/info.json",
                                           "/three/build/three.module.js", "/three/../../etc/passwd",
                                           "/three/%2e%2e/%2e%2e/etc/passwd", "/three/%00", "/three//etc/passwd",
                                           "/three/" + "a" * 5000, "/three/" + "a/" * 3000, "*", ""]),
                          st.text(max_size=40).map(lambda t: "/three/" + t), st.text(max_size=40))
RANGES = st.one_of(st.none(), st.tuples(st.integers(-5, 10**6), st.integers(-5, 10**6)).map(lambda r: f"bytes={r[0]}-{r[1]}"),
                   st.integers(0, 10**6).map(lambda n: f"bytes=-{n}"), st.integers(0, 10**6).map(lambda n: f"bytes={n}-"),
                   st.sampled_from(["bytes=", "bytes=-", "bytes=1-2,5-6", "pages=1-2", "bytes=99999999999999999999-"]),
                   st.text(max_size=20))


@FEW
@given(st.sampled_from(["GET", "HEAD", "POST", "get", "BREW", ""]), REQUEST_PATHS, RANGES,
       st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", ""]), st.binary(max_size=40))
def test_viewer_http_requests(method, path, rng, version, junk):
    """Any request line and Range header: a well-formed HTTP answer (never a 206 with a negative or
    wrong Content-Length), and the server keeps answering."""
    import socket

    port = _viewer_port()
    head = f"{method} {path} {version}\r\nHost: x\r\n" + (f"Range: {rng}\r\n" if rng is not None else "")
    request = head.encode("utf-8", "surrogatepass").replace(b"\r\n\r\n", b"\r\n") + (junk if not rng else b"") + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(1 << 16):
            reply += chunk
    if reply and not reply.startswith(b"HTTP/"):  # HTTP/0.9: a request without a version gets a bare
        assert version == "" or b"Error response" in reply, reply[:80]  # body, an unparsable one the stdlib's error page
    elif reply:
        status_line, _, rest = reply.partition(b"\r\n")
        assert status_line.startswith((b"HTTP/1.0 ", b"HTTP/1.1 ")), status_line[:80]
        status = int(status_line.split()[1])
        assert status in (200, 206, 400, 404, 405, 414, 416, 431, 501, 505), status
        headers, _, body = rest.partition(b"\r\n\r\n")
        fields = dict(line.split(b": ", 1) for line in headers.split(b"\r\n") if b": " in line)
        if status in (200, 206) and method == "GET":
            assert int(fields[b"Content-Length"]) == len(body) > 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # still serving
        s.sendall(b"GET /data/info.json HTTP/1.0\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.0 200")

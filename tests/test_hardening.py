"""Careless and hostile input against what the last rounds added (avatars, exports, manifests,
sync, stream, view, data build, the Python API): each gets one `voca-cn: error:` line (a
VocaError in the API), exit 2, nothing half-written, nothing read outside the places named."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli
from gltf_assets import tiny_gltf, write_gltf

import voca_cn
from voca_cn import VocaError
from voca_cn.core.arkit import INDEX
from voca_cn.formats import load_animation, resolve
from voca_cn.formats.curves import write_arkit_json, write_livelink

HELLO = Path(__file__).resolve().parent.parent / "data" / "examples" / "hello.wav"


def _fails(*args, cwd=None) -> str:
    """Run voca-cn expecting one `voca-cn: error:` line and exit 2; returns that line."""
    proc = subprocess.run([sys.executable, "-m", "voca_cn", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("voca-cn: error: ")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return errors[0]


def _curves(n: int = 60) -> np.ndarray:
    w = np.zeros((n, 52), np.float32)
    w[:, INDEX["jawOpen"]] = np.sin(np.linspace(0, 3, n)) ** 2
    return w


# ---------------------------------------------------------------------------- avatars
def test_an_avatar_never_reads_files_outside_its_folder(tmp_path):
    """A .gltf whose buffer or texture points at ../secret.bin or an absolute path is refused,
    even though the file is there and would parse: its bytes never reach animation.glb."""
    doc, data = tiny_gltf()
    (tmp_path / "secret.bin").write_bytes(data)
    folder = tmp_path / "avatar"
    folder.mkdir()
    for uri in ("../secret.bin", str(tmp_path / "secret.bin"), "%2e%2e/secret.bin", "file:///etc/passwd"):
        path = write_gltf(folder / "head.gltf", doc, data, uri=uri)
        line = _fails("animate", "--audio", HELLO, "--template", path, "--out", tmp_path / "out",
                      "--no-video", "--export", "glb")
        assert "outside" in line or "absolute" in line, line
        assert not (tmp_path / "out").exists()
    # the same buffer inside the folder is fine
    (folder / "mesh.bin").write_bytes(data)
    assert resolve(write_gltf(folder / "head.gltf", doc, data, uri="mesh.bin")).n_vertices == 3
    # a texture pointing outside: refused too, not quietly skipped
    doc["images"] = [{"uri": "../secret.bin"}]
    doc["textures"] = [{"source": 0}]
    doc["materials"] = [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}]
    doc["meshes"][0]["primitives"][0].update(material=0)
    doc["meshes"][0]["primitives"][0]["attributes"]["TEXCOORD_0"] = 0
    with pytest.raises(VocaError, match="outside"):
        resolve(write_gltf(folder / "textured.gltf", doc, data, uri="mesh.bin"))


def test_deep_or_wrongly_typed_json_gets_one_line(tmp_path):
    """JSON nested 100,000 deep, or a list where an object belongs, in glTF, GLB and ARKit JSON."""
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.gltf").write_text(deep)
    (tmp_path / "deep.json").write_text('{"fps": 60, "frames": ' + deep + "}")
    doc, data = tiny_gltf()
    write_gltf(tmp_path / "list.glb", {**doc, "buffers": {"uri": "x"}}, data)
    write_gltf(tmp_path / "nodes.glb", {**doc, "nodes": "head"}, data)
    (tmp_path / "frames.json").write_text(json.dumps({"fps": 60, "frames": {"jawOpen": 1}}))
    (tmp_path / "frame.json").write_text(json.dumps({"fps": 60, "frames": [[0.5]]}))
    (tmp_path / "value.json").write_text(json.dumps({"fps": 60, "frames": [{"jawOpen": "wide"}]}))
    for name in ("deep.gltf", "deep.json", "list.glb", "nodes.glb", "frames.json", "frame.json", "value.json"):
        with pytest.raises(VocaError) as e:
            load_animation(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    for name in ("deep.gltf", "list.glb", "nodes.glb"):
        with pytest.raises(VocaError):
            resolve(tmp_path / name)


# ---------------------------------------------------------------------------- keyframes
def test_keyframe_times_must_run_forward(tmp_path):
    """glTF keys reversed, NaN or all at 0 s: refused, never played backwards or at 1 fps."""
    for times, what in (((2 / 60, 1 / 60, 0.0), "must increase"), ((0.0, float("nan"), 0.1), "not finite"),
                        ((0.0, 0.0, 0.0), "must increase")):
        doc, data = tiny_gltf(times)
        with pytest.raises(VocaError, match=what):
            load_animation(write_gltf(tmp_path / "a.glb", doc, data))
    doc, data = tiny_gltf((0.0, 0.04, 0.08, 0.2))  # 25 fps with a dropped key: filled in, not stretched
    w, fps = load_animation(write_gltf(tmp_path / "b.glb", doc, data))
    assert fps == 25 and len(w) == 6 and np.allclose(w[:, INDEX["jawOpen"]], [0, 1 / 3, 2 / 3, 7 / 9, 8 / 9, 1],
                                                     atol=1e-5)


def test_livelink_rows_play_in_timecode_order_and_at_the_right_speed(tmp_path):
    """Shuffled rows are put back in time order; at 30, 25 and 24 fps the timecodes count
    sixtieths as Unreal's importer reads them (frame 1 at 30 fps is 2/60 s, not 1/60 s)."""
    w = _curves(90)
    for fps, second_row in ((60, "00:00:00:01.000"), (30, "00:00:00:02.000"), (25, "00:00:00:02.400"),
                            (24, "00:00:00:02.500")):
        path = tmp_path / f"{fps}.csv"
        write_livelink(path, w, fps)
        rows = path.read_text().splitlines()
        assert rows[2].startswith(second_row + ","), rows[2][:20]
        last = rows[-1].split(",")[0]  # 89 frames in: 89 / fps seconds
        h, m, s, f = last.split(":")
        assert abs(int(s) + float(f) / 60 - 89 / fps) < 1e-4
        back, back_fps = load_animation(path)
        assert back_fps == fps and np.abs(back - w).max() < 1e-5
        rng = np.random.default_rng(fps)
        path.write_text("\n".join([rows[0]] + [rows[1 + i] for i in rng.permutation(len(rows) - 1)]) + "\n")
        back, back_fps = load_animation(path)
        assert back_fps == fps and np.abs(back - w).max() < 1e-5


def test_files_without_arkit_shapes_or_with_unknown_ones_are_refused(tmp_path):
    """No silent all-zero curves: a CSV with no shape columns, ARKit JSON with names that are
    not ARKit shapes, and ``"fps": true`` (not 1 fps) get one line each."""
    (tmp_path / "noshapes.csv").write_text("Timecode,BlendShapeCount,Mouth,Jaw\n00:00:00:00.000,2,0.5,0.1\n")
    with pytest.raises(VocaError, match="not ARKit blendshapes|no ARKit shape"):
        load_animation(tmp_path / "noshapes.csv")
    (tmp_path / "timecode_only.csv").write_text("Timecode,BlendShapeCount\n00:00:00:00.000,0\n")
    with pytest.raises(VocaError, match="no ARKit shape"):
        load_animation(tmp_path / "timecode_only.csv")
    (tmp_path / "names.json").write_text(json.dumps({"fps": 60, "frames": [{"MouthOpen": 0.5, "jawOpen": 0.2}]}))
    with pytest.raises(VocaError, match="'MouthOpen'"):
        load_animation(tmp_path / "names.json")
    for fps in (True, "sixty", None, 0, float("inf")):
        write_arkit_json(tmp_path / "fps.json", _curves(3), 60)
        doc = json.loads((tmp_path / "fps.json").read_text())
        doc["fps"] = fps if fps != float("inf") else 1e999
        (tmp_path / "fps.json").write_text(json.dumps(doc).replace("Infinity", "1e999"))
        with pytest.raises(VocaError, match="fps"):
            load_animation(tmp_path / "fps.json")


def test_render_with_much_longer_audio_holds_the_face_and_says_so(tmp_path):
    """A 1 s animation with 4.4 s of audio: the video lasts as long as the sound, its last frame held,
    and the user is told (the picture never stops early without a word)."""
    import imageio_ffmpeg

    write_arkit_json(tmp_path / "a.json", _curves(60), 60)
    proc = run_cli("render", "--animation", tmp_path / "a.json", "--audio", HELLO, "--out", tmp_path / "out",
                   "--no-obj")
    assert "4.36 s" in proc.stderr and "1.00 s" in proc.stderr and "holds" in proc.stderr
    frames = imageio_ffmpeg.read_frames(str(tmp_path / "out" / "preview.mp4"))
    meta = next(frames)
    assert abs(meta["duration"] - 4.36) < 0.1, meta["duration"]
    frames.close()


# ---------------------------------------------------------------------------- sync
def test_sync_on_a_two_frame_video_is_one_line_not_nan(grid, tmp_path):
    """Two frames of a speaking face, judged against seconds of speech: too little to measure, said so."""
    import imageio_ffmpeg

    video = tmp_path / "two.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", sorted((grid / "clips").glob("*.mp4"))[0],
                    "-frames:v", "2", str(video)], check=True)
    line = _fails("sync", video, "--audio", HELLO)
    assert "too little" in line and "nan" not in line.lower()


def test_sync_says_in_words_and_shift_writes_a_fixed_video(grid, tmp_path):
    """A clip with its sound 200 ms late: a verdict a person reads on stderr, valid JSON on
    stdout, and --shift writes a copy whose sound sync then measures within 40 ms of the picture."""
    import imageio_ffmpeg

    clip = sorted((grid / "clips").glob("*.mp4"))[0]
    late = tmp_path / "late.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", clip, "-af", "adelay=200:all=1",
                    "-c:v", "copy", late], check=True)
    proc = run_cli("sync", late, "--shift", tmp_path / "fixed.mp4")
    report = json.loads(proc.stdout)
    verdict = [ln for ln in proc.stderr.splitlines() if ln.startswith("voca-cn: sync:")]
    assert len(verdict) == 1 and "out of sync" in verdict[0] and "late" in verdict[0], proc.stderr[-500:]
    assert abs(report["offset_ms"] - 200) <= 40 and report["shifted"] == str(tmp_path / "fixed.mp4")
    again = run_cli("sync", tmp_path / "fixed.mp4")
    assert abs(json.loads(again.stdout)["offset_ms"]) <= 40
    assert "in sync" in again.stderr
    _fails("sync", late, "--shift", tmp_path / "fixed.mp4")  # never overwrites


# ---------------------------------------------------------------------------- stream
def test_stream_addresses_and_microphones_get_one_line(tmp_path):
    for address in ("no-such-host.invalid:39539", "127.0.0.1:99999", "localhost"):
        assert "--osc" in _fails("stream", "--audio", HELLO, "--osc", address)
    assert "NoSuchMic" in _fails("stream", "--mic", "NoSuchMic")
    proc = subprocess.run([sys.executable, "-m", "voca_cn", "stream", "--audio", HELLO, "--osc", "[::1]:39539",
                           "--jsonl"], capture_output=True, text=True)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) > 200, proc.stderr[-500:]


def test_output_piped_into_head_ends_quietly(tmp_path):
    """`voca-cn stream ... | head -3`: three lines, and no BrokenPipe traceback."""
    for cmd in (f"stream --audio {HELLO}", f"features {HELLO}"):
        proc = subprocess.run(f"{sys.executable} -m voca_cn {cmd} | head -3", shell=True, capture_output=True,
                              text=True)
        assert len(proc.stdout.splitlines()) == 3 and "Traceback" not in proc.stderr and "Broken" not in proc.stderr


# ---------------------------------------------------------------------------- view
@pytest.fixture()
def viewer(tmp_path, monkeypatch):
    """The viewer's real server on a free port, serving a tiny animation.glb and its audio."""
    from voca_cn.apps.viewer import make_server

    three = tmp_path / "three"
    (three / "build").mkdir(parents=True)
    (three / "build" / "three.module.js").write_text("export {};\n")
    monkeypatch.setenv("VOCA_CN_THREE", str(three))
    doc, data = tiny_gltf()
    (tmp_path / "out").mkdir()
    write_gltf(tmp_path / "out" / "animation.glb", doc, data)
    server = make_server(tmp_path / "out", 0, HELLO)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    out = r.status, dict(r.getheaders()), r.read()
    conn.close()
    return out


def test_viewer_answers_long_names_and_odd_ranges_correctly(viewer):
    size = len(HELLO.read_bytes())
    assert _get(viewer, "/three/" + "a" * 5000)[0] == 404
    assert _get(viewer, "/three/%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert _get(viewer, "/three/build/three.module.js")[0] == 200
    for rng in ("bytes=10-5", f"bytes={size}-", "bytes=99999999999-"):
        status, headers, body = _get(viewer, "/data/audio", {"Range": rng})
        assert status == 416 and headers["Content-Range"] == f"bytes */{size}" and body == b""
    status, headers, body = _get(viewer, "/data/audio", {"Range": "bytes=-5"})
    assert status == 206 and body == HELLO.read_bytes()[-5:] and headers["Content-Length"] == "5"
    status, headers, body = _get(viewer, "/data/audio", {"Range": f"bytes=10-{10 * size}"})
    assert status == 206 and body == HELLO.read_bytes()[10:] and int(headers["Content-Length"]) == size - 10
    status, _, body = _get(viewer, "/data/audio", {"Range": "pages=1-2"})
    assert status == 200 and len(body) == size


# ---------------------------------------------------------------------------- batch
def _manifest(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "lines.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_batch_ids_that_would_collide_or_cannot_be_folders(tmp_path):
    """x beside x/y (x's folder would swallow y's) and an empty manifest stop the batch; an id
    inside the batch's own done.jsonl, a NUL in a path, a 600-byte id and a half-written last
    line are failures of their own lines while the good line is animated."""
    wav = tmp_path / "a.wav"
    wav.write_bytes(HELLO.read_bytes())
    assert "folder of line id" in _fails("batch", _manifest(tmp_path, [{"id": "x", "audio": "a.wav"},
                                                                         {"id": "x/y", "audio": "a.wav"}]),
                                         "--out", tmp_path / "o1", "--jobs", "1")
    assert "no lines" in _fails("batch", _manifest(tmp_path, []), "--out", tmp_path / "o2", "--jobs", "1")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    rows = [{"id": "done.jsonl/x", "audio": "a.wav"}, {"id": "é" * 300, "audio": "a.wav"},
            {"id": "nul", "audio": "a\0.wav"}, {"id": "good", "audio": "a.wav"}, '{"id": "torn", "aud']
    proc = run_cli("batch", _manifest(tmp_path, rows), "--out", tmp_path / "o3", "--jobs", "1", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["lines"], summary["done"], summary["failed"]) == (5, 1, 4)
    reasons = [json.loads(ln)["reason"] for ln in (tmp_path / "o3" / "failures.jsonl").read_text().splitlines()]
    assert any("done.jsonl" in r for r in reasons) and any("600 bytes" in r for r in reasons)
    assert any("NUL" in r for r in reasons) and any("not valid JSON" in r for r in reasons)
    assert (tmp_path / "o3" / "good" / "animation.npz").is_file()
    assert json.loads((tmp_path / "o3" / "done.jsonl").read_text())["id"] == "good"


def test_batch_with_an_unreachable_ray_cluster_stops_within_seconds(tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(HELLO.read_bytes())
    t0 = time.perf_counter()
    line = _fails("batch", _manifest(tmp_path, [{"id": "a", "audio": "a.wav"}]), "--out", tmp_path / "out",
                  "--ray", "127.0.0.1:1")
    assert "cannot reach Ray" in line and time.perf_counter() - t0 < 30 and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- training inputs
def test_data_build_with_only_unusable_clips_fails(tmp_path):
    """Videos whose transcript is Latin-1 (not UTF-8) or whose bytes are no video: every clip
    fails, so the build says so and exits 2 instead of writing an empty corpus."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"not a video at all")
    (videos / "a.txt").write_text("bin blue at f two now", encoding="utf-8")
    (videos / "b.mp4").write_bytes(b"\0" * 100)
    (videos / "b.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    line = _fails("data", "build", "--out", tmp_path / "corpus", "--hours", "0", "--kathleen", "",
                  "--video", videos, "--jobs", "1")
    assert "no item" in line
    line = _fails("evaluate", "--video", videos, "--split", "all", "--methods", "amplitude")
    assert "no clip" in line


def test_a_torn_corpus_manifest_line_is_left_out(tmp_path):
    """A build killed mid-append leaves half a line: the other rows still read, with a note."""
    from voca_cn.training.corpus import read_manifest

    row = {"id": "a", "split": "train", "source": "synthetic", "duration": 1.0, "voice": "v", "speaker": "s",
           "language": "en"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row)[:25])
    assert [r["id"] for r in read_manifest(tmp_path)] == ["a"]
    assert "no train video items" in _fails("fit-animator", "--data", tmp_path, "--out", tmp_path / "fit.json")


def test_ict_import_with_missing_or_truncated_identity_files(ict_dir, tmp_path):
    """A FaceXModel copy whose identity001.obj is cut in half, or whose identity002.obj is gone."""
    folder = tmp_path / "FaceXModel"
    folder.mkdir()
    for f in ict_dir.iterdir():
        if f.name not in ("identity001.obj", "identity002.obj"):
            (folder / f.name).symlink_to(f)
    data = (ict_dir / "identity001.obj").read_bytes()
    (folder / "identity001.obj").write_bytes(data[: data.rindex(b"\nv ") // 2])  # cut in its vertex lines
    assert "identity001.obj" in _fails("template", "import-ict", folder, "--identity", "0,1",
                                       "--out", tmp_path / "t.npz")
    assert "identity002.obj" in _fails("template", "import-ict", folder, "--identity", "0,0,1",
                                       "--out", tmp_path / "t.npz")
    assert not (tmp_path / "t.npz").exists()


# ---------------------------------------------------------------------------- the API
def test_api_takes_pcm_integers_and_channels_as_columns():
    """int16 samples (as soundfile gives them) animate like the same samples as floats; a stereo
    (samples, 2) array gives the frames of one channel, not twice as many."""
    pcm, sr = sf.read(HELLO, dtype="int16")
    as_float = voca_cn.animate(pcm.astype(np.float32) / 32768, sr=sr)
    assert np.array_equal(voca_cn.animate(pcm, sr=sr).weights, as_float.weights)
    stereo = voca_cn.animate(np.stack([pcm, pcm], 1), sr=sr)
    assert np.array_equal(stereo.weights, as_float.weights)


def test_api_refuses_what_it_cannot_take_with_a_voca_error(tmp_path):
    pcm, sr = sf.read(HELLO, dtype="float32")
    for audio, rate, what in ((pcm, "16000", "sample rate"), (HELLO.read_bytes(), sr, "bytes"),
                              ((x for x in pcm), sr, "generator"), (np.stack([pcm, pcm]), sr, "samples.T"),
                              (pcm.astype(complex), sr, "complex")):
        with pytest.raises(VocaError, match=what):
            voca_cn.animate(audio, sr=rate)
    with pytest.raises(VocaError, match="'fbx'"):
        voca_cn.animate(HELLO).save(tmp_path / "out", exports=("glb", "fbx"), video=False)
    with pytest.raises(VocaError, match="fps"):
        voca_cn.animate(HELLO).save(tmp_path / "out", fps="60", video=False)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- templates
def test_a_folder_named_like_a_template_does_not_shadow_it(tmp_path):
    """`makehuman/` in the current folder: the built-in head is used (with a note); `ict/`, not a
    known name, is refused as a folder rather than read as a mesh."""
    (tmp_path / "makehuman").mkdir()
    (tmp_path / "ict").mkdir()
    proc = subprocess.run([sys.executable, "-m", "voca_cn", "template", "export", "makehuman", "head.obj"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert proc.returncode == 0 and "not ./makehuman" in proc.stderr and (tmp_path / "head.obj").is_file()
    assert "is a folder" in _fails("animate", "--audio", HELLO, "--template", "ict", "--out", "o", cwd=tmp_path)

"""`voca-cn batch`: folders and manifests of lines, bad lines listed, resuming after a kill, the
local and Ray engines giving the same bytes; numbers, write errors and model folders refused in
one line; the same input giving the same files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, speak

TEXTS = ["Bob bought a map.", "Pam may buy my puppy.", "The weather was calm and snowy."]


@pytest.fixture(scope="module")
def lines(tmp_path_factory) -> Path:
    """A folder of three short spoken lines; the second has a transcript."""
    d = tmp_path_factory.mktemp("lines")
    for i, text in enumerate(TEXTS):
        speak(text, d / f"line{i}.wav", voice=["en-us", "en+f3", "en-gb-scotland"][i])
    (d / "line1.txt").write_text(TEXTS[1])
    return d


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _one_error_line(proc) -> str:
    """Exit 2 and exactly one `voca-cn: error:` line, the last thing on stderr."""
    errors = [x for x in proc.stderr.strip().splitlines() if x.startswith("voca-cn: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr
    return errors[0]


def _files(folder: Path, lines_only: bool = False) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path; ``lines_only`` leaves out a batch's own
    bookkeeping (summary with wall times, journal) at the top."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not (lines_only and p.parent == folder)}


def test_manifest_batch_lists_bad_lines_and_finishes_the_rest(tmp_path, lines):
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEjunk")
    rows = [
        {"id": "a", "audio": str(lines / "line0.wav")},
        {"id": "b/with-text", "audio": str(lines / "line1.wav"), "text": TEXTS[1], "style": "jaw=0.5 lip=1.5"},
        {"id": "c", "audio": str(lines / "line2.wav"), "export": "obj"},
        {"id": "broken", "audio": "broken.wav"},  # relative to the manifest
        {"id": "missing", "audio": "nowhere.wav"},
        {"id": "nan-style", "audio": str(lines / "line0.wav"), "style": "jaw=nan"},
        {"id": "negative", "audio": str(lines / "line0.wav"), "style": {"lip": -1}},
        {"id": "../escape", "audio": str(lines / "line0.wav")},
        {"id": "glb", "audio": str(lines / "line0.wav"), "export": "glb,arkit-json"},
        {"id": "bad-export", "audio": str(lines / "line0.wav"), "export": "fbx"},
    ]
    manifest = tmp_path / "lines.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    out = tmp_path / "out"
    proc = run_cli("batch", manifest, "--out", out, "--jobs", "2", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "failures.jsonl" in proc.stderr.strip().splitlines()[-1]
    failures = {f["id"]: f["reason"] for f in _jsonl(out / "failures.jsonl")}
    assert set(failures) == {"broken", "missing", "nan-style", "negative", "../escape", "bad-export", "row 11"}
    assert "unknown export" in failures["bad-export"]
    assert "cannot read audio" in failures["broken"] and "does not exist" in failures["missing"]
    assert "finite" in failures["nan-style"] and "out of range" in failures["negative"]
    expect = {"c": ["animation.npz", "meshes", "visemes.json"],
              "glb": ["animation.glb", "animation.npz", "arkit.json", "visemes.json"]}
    for done in ("a", "b/with-text", "c", "glb"):
        files = sorted(p.name for p in (out / done).iterdir())
        assert files == expect.get(done, ["animation.npz", "visemes.json"])
        with np.load(out / done / "animation.npz") as z:
            assert z["weights"].shape[1] == 52 and np.isfinite(z["weights"]).all()
        assert json.loads((out / done / "visemes.json").read_text()), "viseme events written"
    assert not (out / "escape").exists() and not (tmp_path / "escape").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lines"] == 11 and summary["done"] == 4 and summary["failed"] == 7
    assert summary["audio_hours"] > 0 and summary["this_run"]["real_time_factor"] > 0
    assert json.loads(proc.stdout) == summary


def test_a_noisy_line_is_marked_in_the_journal_and_counted_on_stderr(tmp_path, lines):
    import soundfile as sf

    from voca_cn.audio import degrade
    from voca_cn.audio.load import load

    src = tmp_path / "takes"
    src.mkdir()
    shutil.copy(lines / "line0.wav", src / "clean.wav")
    y = load(lines / "line0.wav")
    sf.write(src / "noisy.wav", np.clip(degrade.add_noise(
        y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(0)), 5.0), -1, 1), 16000)
    proc = run_cli("batch", src, "--out", tmp_path / "out", "--jobs", "1")
    said = {r["id"]: r["disagreement"] for r in _jsonl(tmp_path / "out" / "done.jsonl")}
    assert said["clean"] < 0.2 < said["noisy"], said
    assert "1 of the 2 lines sound noisy" in proc.stderr


def test_killed_batch_resumes_where_it_stopped(tmp_path, lines):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(16):  # same audio, distinct lines
        shutil.copy(lines / f"line{i % 3}.wav", src / f"l{i:02d}.wav")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "voca_cn", "batch", str(src), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    done = out / "done.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (done.is_file() and done.read_text().count("\n") >= 2):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the batch and its worker, mid-line
    proc.wait()
    before = {r["id"] for r in _jsonl(done)}
    assert 2 <= len(before) < 16, "killed mid-batch"
    stamps = {i: (out / i / "animation.npz").stat().st_mtime_ns for i in before}
    rerun = run_cli("batch", src, "--out", out, "--jobs", "1")
    assert f"{len(before)} already done" in rerun.stderr
    assert all((out / i / "animation.npz").stat().st_mtime_ns == t for i, t in stamps.items()), "not redone"
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [f"l{i:02d}" for i in range(16)]
    assert not list(out.glob(".*.part")), "nothing half-written left behind"
    assert json.loads(rerun.stdout)["done"] == 16


def test_local_and_ray_engines_write_the_same_bytes(tmp_path, lines):
    pytest.importorskip("ray")
    run_cli("batch", lines, "--out", tmp_path / "local", "--jobs", "2")
    run_cli("batch", lines, "--out", tmp_path / "ray", "--ray", "--jobs", "2")  # a local Ray, 2 CPUs
    local, ray = _files(tmp_path / "local", True), _files(tmp_path / "ray", True)
    assert len(local) == 6 and local == ray
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["engine"] == "ray"


def test_same_input_same_bytes(tmp_path, lines):
    """animate twice on the same audio and model: identical animation.npz, visemes.json and OBJs."""
    for run in ("one", "two"):
        run_cli("animate", "--audio", lines / "line0.wav", "--out", tmp_path / run, "--no-video")
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert {"animation.npz", "visemes.json"} <= set(one) and any(k.endswith(".obj") for k in one)
    assert one == two


@pytest.mark.parametrize("args, expect", [
    (["--jaw", "nan"], "not a finite number"),
    (["--lip", "-0.5"], "out of range"),
    (["--jaw", "inf"], "not a finite number"),
    (["--fps", "0"], "out of range"),
    (["--fps", "59.5"], "whole number"),
    (["--size", "0x512"], "out of range"),
])
def test_numbers_are_checked_before_work(tmp_path, lines, args, expect):
    for cmd in (["animate", "--audio", lines / "line0.wav", "--out", tmp_path / "o"],
                ["batch", lines, "--out", tmp_path / "b"]):
        line = _one_error_line(run_cli(*cmd, *args, check=False))
        assert expect in line, line
        assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, expect", [
    (["sync", "clip.mp4", "--max-lag", "nan"], "not a finite number"),
    (["sync", "clip.mp4", "--max-lag", "0"], "out of range"),
    (["stream", "--audio", "a.wav", "--chunk-ms", "0"], "out of range"),
    (["stream", "--audio", "a.wav", "--chunk-ms", "inf"], "not a finite number"),
    (["view", ".", "--port", "70000"], "out of range"),
    (["view", ".", "--port", "80.5"], "whole number"),
    (["evaluate", "--data", ".", "--limit", "-1"], "out of range"),
    (["data", "build", "--out", "c", "--jobs", "0"], "out of range"),
])
def test_numbers_of_every_command_are_checked_by_the_parser(args, expect):
    line = _one_error_line(run_cli(*args, check=False))
    assert expect in line, line


def test_bad_sources_are_one_line(tmp_path, lines):
    (tmp_path / "cols.csv").write_text("id,audio,mood\na,x.wav,happy\n")
    (tmp_path / "dup.csv").write_text(f"id,audio\na,{lines / 'line0.wav'}\nA,{lines / 'line1.wav'}\n")
    (tmp_path / "empty").mkdir()
    for source, expect in [(tmp_path / "none", "does not exist"), (tmp_path / "cols.csv", "columns"),
                           (tmp_path / "dup.csv", "twice"), (tmp_path / "empty", "no audio files")]:
        line = _one_error_line(run_cli("batch", source, "--out", tmp_path / "out", check=False))
        assert expect in line, line
        assert not (tmp_path / "out").exists()


def _damaged_models(tmp_path: Path) -> dict[str, Path]:
    from voca_cn.motion.onnx import MODELS

    cases = {}
    for name in ("corrupt", "inventory", "meta", "no-onnx"):
        d = tmp_path / name
        shutil.copytree(MODELS, d)
        cases[name] = d
    (cases["corrupt"] / "phonetic.onnx").write_bytes(b"\x08\x07 not a model")
    (cases["no-onnx"] / "lipsync.onnx").unlink()
    meta = json.loads((cases["inventory"] / "phonetic.json").read_text())
    meta["classes"] = meta["classes"][:-1]
    (cases["inventory"] / "phonetic.json").write_text(json.dumps(meta))
    (cases["meta"] / "lipsync.json").write_text("{not json")
    cases["missing"] = tmp_path / "no-such-model"
    return cases


def test_damaged_model_folders_are_one_line(tmp_path, lines):
    expect = {"corrupt": "damaged", "inventory": "phone inventory", "meta": "damaged", "missing": "no phonetic model",
              "no-onnx": "has no lipsync.onnx"}
    for name, folder in _damaged_models(tmp_path).items():
        line = _one_error_line(run_cli("animate", "--audio", lines / "line0.wav", "--model", folder,
                                       "--out", tmp_path / "o", "--no-video", check=False))
        assert expect[name] in line, (name, line)
        assert not (tmp_path / "o").exists()
    line = _one_error_line(run_cli("batch", lines, "--model", tmp_path / "corrupt", "--out", tmp_path / "b",
                                   "--jobs", "1", check=False))
    assert "damaged" in line
    assert not (tmp_path / "b" / "line0").exists() and not list((tmp_path / "b").glob(".*.part"))


def _limited(nbytes: int):
    """preexec_fn: files may grow to ``nbytes`` (a full disk, as the writer sees it: EFBIG)."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def test_write_errors_are_one_line_and_leave_nothing(tmp_path, lines):
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "voca_cn", "animate", "--audio", str(lines / "line0.wav"),
                           "--out", str(out), "--no-video"], capture_output=True, text=True,
                          preexec_fn=_limited(20_000))
    assert "File too large" in _one_error_line(proc)
    assert not out.exists() and not list(tmp_path.glob(".*.part"))
    # a location the permission check passes but that cannot be created
    line = _one_error_line(run_cli("animate", "--audio", lines / "line0.wav", "--out", "/proc/voca-cn-out",
                                   "--no-video", check=False))
    assert "/proc" in line

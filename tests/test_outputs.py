"""Rendering and the output stage: real frames, real MP4s checked with ffprobe, OBJs, bad input."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli

from voca_cn.core.arkit import INDEX
from voca_cn.formats import resolve
from voca_cn.formats.animation import save_animation
from voca_cn.formats.obj import read_mesh
from voca_cn.render import render_frames
from voca_cn.render.preview import BACKGROUND


def _face_mask(img):
    bg = np.round(np.power(BACKGROUND, 1 / 2.2) * 255)
    return np.abs(img.astype(int) - bg).sum(-1) > 30


def _open_jaw(n=1):
    w = np.zeros((n, 52), np.float32)
    w[:, INDEX["jawOpen"]] = 0.6
    return w


@pytest.mark.parametrize("name", ["makehuman", "ict"])
def test_face_fills_frame_and_open_jaw_changes_the_mouth(name, request):
    t = resolve("makehuman") if name == "makehuman" else request.getfixturevalue("ict_template")
    imgs = render_frames(t, np.concatenate([np.zeros((1, 52), np.float32), _open_jaw()]))
    neutral, opened = imgs
    mask = _face_mask(neutral)
    rows, cols = np.where(mask)
    assert mask.mean() > 0.3, "the face covers a good part of the frame"
    assert cols.max() - cols.min() > 0.5 * neutral.shape[1]
    diff = np.abs(neutral.astype(int) - opened.astype(int)).sum(-1) > 40
    h = neutral.shape[0]
    assert diff[h // 2:].mean() > 0.01, "the open jaw changes the lower face"
    assert diff[: h // 4].mean() < 0.002, "and leaves the top of the head alone"


def _ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def test_render_writes_video_objs_and_data(tmp_path, speech):
    wav, _ = speech
    dur = sf.info(wav).duration
    n = int(np.ceil(dur * 60))
    w = np.zeros((n, 52), np.float32)
    w[:, INDEX["jawOpen"]] = 0.3 * (1 + np.sin(np.arange(n) / 5)) / 2
    t = resolve("makehuman")
    save_animation(tmp_path / "anim.npz", w, 60, t)
    run_cli("render", "--animation", tmp_path / "anim.npz", "--audio", wav, "--template", "makehuman",
            "--out", tmp_path / "out")
    streams = _ffprobe(tmp_path / "out" / "preview.mp4")
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert abs(float(streams["video"]["duration"]) - dur) <= 1 / 60 + 1e-3
    objs = sorted((tmp_path / "out" / "meshes").glob("*.obj"))
    assert len(objs) == n
    v, f = read_mesh(objs[7])
    np.testing.assert_allclose(v, t.deform(w[7:8])[0], atol=2e-6)
    np.testing.assert_array_equal(f, t.faces)
    z = np.load(tmp_path / "out" / "animation.npz")
    assert z["weights"].shape == (n, 52) and list(z["names"])[17] == "jawOpen" and z["fps"] == 60
    assert str(z["template"]).startswith("makehuman@")


def test_existing_dir_refused_unless_overwrite(tmp_path):
    t = resolve("makehuman")
    save_animation(tmp_path / "a.npz", np.zeros((3, 52)), 60, t)
    (tmp_path / "out").mkdir()
    proc = run_cli("render", "--animation", tmp_path / "a.npz", "--out", tmp_path / "out", "--no-video", check=False)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    run_cli("render", "--animation", tmp_path / "a.npz", "--out", tmp_path / "out", "--no-video", "--overwrite")
    assert len(list((tmp_path / "out" / "meshes").glob("*.obj"))) == 3


def _bad_inputs(tmp_path):
    t = resolve("makehuman")
    good = tmp_path / "good.npz"
    save_animation(good, np.zeros((5, 52)), 60, t)
    np.savez(tmp_path / "wide.npz", weights=np.zeros((5, 51), np.float32), fps=60.0)
    nan = np.zeros((5, 52), np.float32)
    nan[2, 3] = np.nan
    np.savez(tmp_path / "nan.npz", weights=nan, fps=60.0)
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip")
    (tmp_path / "corrupt_tpl.npz").write_bytes(b"PK\x03\x04 broken")
    (tmp_path / "few.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "noise.wav").write_bytes(b"RIFF....WAVEjunk")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    return {
        "missing animation": (["--animation", tmp_path / "none.npz"], "does not exist"),
        "corrupt animation": (["--animation", tmp_path / "corrupt.npz"], "unreadable"),
        "wrong width": (["--animation", tmp_path / "wide.npz"], "(T, 52)"),
        "non-finite": (["--animation", tmp_path / "nan.npz"], "non-finite"),
        "missing template": (["--animation", good, "--template", tmp_path / "none.obj"], "not found"),
        "corrupt template": (["--animation", good, "--template", tmp_path / "corrupt_tpl.npz"], "template"),
        "wrong vertex count": (["--animation", good, "--template", tmp_path / "few.obj"], "matches no known"),
        "unreadable audio": (["--animation", good, "--audio", tmp_path / "noise.wav"], "cannot read audio"),
        "unwritable dir": (["--animation", good, "--out", ro / "out"], "cannot write"),
    }


def test_every_bad_input_gets_one_line_and_leaves_nothing(tmp_path, speech):
    import os

    cases = _bad_inputs(tmp_path)
    for name, (args, expect) in cases.items():
        if name == "unwritable dir" and os.geteuid() == 0:  # root ignores permissions: use a file as parent
            args = ["--animation", args[1], "--out", tmp_path / "good.npz" / "out"]
        out = tmp_path / f"out-{name.replace(' ', '-')}"
        if "--out" not in args:
            args = [*args, "--out", out]
        proc = run_cli("render", *args, check=False)
        assert proc.returncode == 2, name
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("voca-cn: error:"), (name, proc.stderr)
        if name != "unwritable dir":
            assert expect in lines[0], (name, lines[0])
        assert not out.exists(), name
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert leftovers == []

"""The living face: blinks, gaze, brows and head motion from the voice; the mouth at rest in silence;
every exported weight within [0, 1]; the head rotation in every output."""

import csv
import json

import numpy as np
import pytest
from conftest import run_cli, speak

from voca_cn.core.arkit import INDEX, NAMES

MOUTH = [i for i, n in enumerate(NAMES) if n.startswith(("jaw", "mouth"))]
BLINK = [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]


@pytest.fixture(scope="module")
def ten_seconds(tmp_path_factory):
    """~10 s of real speech with pauses, then 1 s of silence, as a 16 kHz array and a WAV."""
    import soundfile as sf

    from voca_cn.audio import load as audio

    d = tmp_path_factory.mktemp("living")
    lines = ["The quick brown fox jumps over the lazy dog.", "Please call Stella and ask her to bring these things.",
             "We also need a small plastic snake and a big toy frog for the kids."]
    parts = []
    for k, text in enumerate(lines):
        parts += [audio.load(speak(text, d / f"{k}.wav")), np.zeros(8000, np.float32)]
    y = np.concatenate(parts + [np.zeros(16000, np.float32)])
    path = d / "ten.wav"
    sf.write(path, y, 16000)
    return y, path


def _blink_peaks(w: np.ndarray) -> np.ndarray:
    b = w[:, BLINK].mean(1)
    return np.flatnonzero((b[1:-1] > 0.5) & (b[1:-1] >= b[:-2]) & (b[1:-1] > b[2:])) + 1


def test_ten_seconds_blink_irregularly_and_the_seed_decides(ten_seconds):
    import voca_cn

    y, _ = ten_seconds
    a = voca_cn.animate(y, sr=16000)
    peaks = _blink_peaks(a.weights)
    assert len(y) / 16000 > 10 and len(peaks) >= 2, "a 10 s animation should blink"
    assert np.ptp(np.diff(peaks)) > 6, f"blinks at a fixed period: {np.diff(peaks)} frames apart"
    again, other = voca_cn.animate(y, sr=16000), voca_cn.animate(y, sr=16000, living="seed=7")
    assert np.array_equal(again.weights, a.weights) and np.array_equal(again.head, a.head)
    assert not np.array_equal(other.weights[:, BLINK], a.weights[:, BLINK])
    assert np.degrees(np.abs(a.head).max()) > 0.1, "the head should move"
    eyes = a.weights[:, [INDEX[n] for n in ("eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeLookDownLeft")]]
    assert eyes.max() > 0.01 and len(np.unique(np.round(eyes, 3), axis=0)) > 5, "the eyes should move"


def test_mouth_only_leaves_the_mouth_curves_and_stops_the_rest(ten_seconds):
    import voca_cn

    y, _ = ten_seconds
    full = voca_cn.animate(y, sr=16000)
    still = voca_cn.animate(y, sr=16000, living="off")
    assert np.array_equal(full.weights[:, MOUTH], still.weights[:, MOUTH])  # byte-identical mouth
    assert not np.any(still.head) and still.weights[:, BLINK].max() < 0.05
    head_only = voca_cn.animate(y, sr=16000, living="blink=0 brows=0 gaze=0")
    assert np.array_equal(head_only.weights, still.weights) and np.any(head_only.head)


def test_the_mouth_is_at_rest_200ms_after_speech_ends(ten_seconds):
    import voca_cn

    y, _ = ten_seconds
    w = voca_cn.animate(y, sr=16000, living="off").weights
    end = int(np.flatnonzero(np.abs(y) > 0.01)[-1] / 16000 * 60)  # last audible sample, in frames
    assert np.abs(w[end - 30:end, MOUTH]).max() > 0.1, "the mouth should move while speaking"
    assert np.abs(w[end + 12:, MOUTH]).max() < 0.01, "the mouth should rest 200 ms after the last word"


def test_every_export_is_within_0_1_and_carries_the_head(ten_seconds, tmp_path):
    import voca_cn
    from voca_cn.formats import load_animation
    from voca_cn.formats.gltf import read

    y, path = ten_seconds
    anim = voca_cn.animate(y, sr=16000, living="intensity=2")
    out = anim.save(tmp_path / "o", obj=False, video=False, exports=("glb", "livelink", "arkit-json"))
    for name in ("animation.npz", "animation.glb", "livelink.csv", "arkit.json"):
        w, _ = load_animation(out / name)
        assert w.min() >= 0 and w.max() <= 1, f"{name} has weights outside [0, 1]: {w.min()} .. {w.max()}"
    with np.load(out / "animation.npz") as z:
        head = z["head"]
    assert head.shape == (len(anim.weights), 3) and np.abs(head).max() > 0
    rows = list(csv.DictReader(open(out / "livelink.csv")))
    yaw = np.array([float(r["HeadYaw"]) for r in rows])
    assert np.allclose(yaw, -np.degrees(head[:, 0]) / 180, atol=2e-6)  # Unreal: degrees / 180, + = its right
    assert np.abs([float(r["LeftEyePitch"]) for r in rows]).max() > 0
    assert np.allclose(json.loads((out / "arkit.json").read_text())["head"], head, atol=1e-6)
    g = read(out / "animation.glb")
    (anim_doc,) = g.doc["animations"]
    rot = [c for c in anim_doc["channels"] if c["target"]["path"] == "rotation"]
    assert len(rot) == 1 and g.doc["nodes"][rot[0]["target"]["node"]]["name"] == "head"


def test_avatar_glb_turns_its_head_node(tmp_path):
    """An avatar read back from a glb (here voca-cn's own head export) gets its head node turned."""
    import voca_cn
    from voca_cn.formats import resolve
    from voca_cn.formats.avatar import write_animation_glb
    from voca_cn.formats.gltf import read

    src = tmp_path / "avatar.glb"
    write_animation_glb(src, resolve("makehuman"), np.zeros((2, 52), np.float32), 60)
    y = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    anim = voca_cn.animate(y, sr=16000, template=str(src), living="blink=0 brows=0 gaze=0 intensity=2")
    out = anim.save(tmp_path / "o", obj=False, video=False, exports=("glb",))
    g = read(out / "animation.glb")
    ours = [a for a in g.doc["animations"] if a["name"] == "voca_cn"]
    rot = [c for c in ours[0]["channels"] if c["target"]["path"] == "rotation"]
    assert len(rot) == 1 and g.doc["nodes"][rot[0]["target"]["node"]]["name"] == "head"


def test_stream_gives_the_offline_living_frames(ten_seconds):
    import voca_cn
    from voca_cn.motion.stream import Stream

    y, _ = ten_seconds
    offline = voca_cn.animate(y, sr=16000, living="seed=3")
    s = Stream(living=voca_cn.motion.living.parse_living("seed=3"))
    w, h = [], []
    for chunk in np.array_split(y, 173):
        w.append(s.push(chunk))
        h.append(s.head)
    w.append(s.close())
    h.append(s.head)
    assert np.allclose(np.concatenate(w), offline.weights, atol=1e-5)
    assert np.allclose(np.concatenate(h), offline.head, atol=1e-6)


def test_controls_are_checked_on_the_command_line(ten_seconds, tmp_path):
    _, path = ten_seconds
    bad = run_cli("animate", "--audio", path, "--out", tmp_path / "o", "--head", "nan", check=False)
    assert bad.returncode == 2 and "--head" in bad.stderr
    run_cli("animate", "--audio", path, "--out", tmp_path / "m", "--no-video", "--no-obj", "--mouth-only")
    with np.load(tmp_path / "m" / "animation.npz") as z:
        assert not np.any(z["head"]) and z["weights"][:, BLINK].max() < 0.05


def test_preview_turns_the_head():
    from voca_cn.formats import resolve
    from voca_cn.render import render_frames

    t = resolve("makehuman")
    still, turned = render_frames(t, np.zeros((2, 52), np.float32), width=128, height=128,
                                  head=np.array([[0, 0, 0], [0.3, 0.0, 0.0]], np.float32))
    assert np.abs(still.astype(int) - turned.astype(int)).mean() > 2


def test_batch_manifest_sets_the_living_layers_per_line(ten_seconds, tmp_path):
    _, path = ten_seconds
    manifest = tmp_path / "lines.csv"
    manifest.write_text(f"id,audio,living\nfull,{path},seed=2\nmouth,{path},off\nbad,{path},head=9\n")
    proc = run_cli("batch", manifest, "--out", tmp_path / "out", "--jobs", "1", check=False)
    assert proc.returncode == 1 and "bad" in (tmp_path / "out" / "failures.jsonl").read_text()
    with np.load(tmp_path / "out" / "full" / "animation.npz") as full, \
            np.load(tmp_path / "out" / "mouth" / "animation.npz") as mouth:
        assert np.any(full["head"]) and not np.any(mouth["head"])
        assert np.array_equal(full["weights"][:, MOUTH], mouth["weights"][:, MOUTH])

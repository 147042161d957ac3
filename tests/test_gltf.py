"""Avatars in (glTF/GLB/VRM written by Blender), animation out (glb, Live Link CSV, ARKit JSON): real
Blender, the Khronos glTF-Validator, the real renderer."""

import json
import subprocess

import numpy as np
import pytest
from conftest import mouth_crop, run_cli
from gltf_assets import GREEN, LIFT, REPO, blender, build, rewrite_glb
from scipy.spatial import cKDTree

from voca_cn.core.arkit import INDEX, NAMES, match
from voca_cn.formats import gltf, resolve
from voca_cn.formats.animation import save_animation
from voca_cn.formats.avatar import load_avatar, write_animation_glb
from voca_cn.formats.curves import read_arkit_json, read_livelink
from voca_cn.render import render_frames


@pytest.fixture(scope="session")
def assets(tmp_path_factory, request):
    """{name: path} of the Blender-written avatars (see gltf_assets.py), plus their templates."""
    templates = {"makehuman": resolve("makehuman")}
    try:
        templates["ict"] = request.getfixturevalue("ict_template")
    except pytest.skip.Exception:
        pass  # ../shared absent: the built-in head only
    return build(tmp_path_factory.mktemp("blender"), templates), templates


def _speech_curves(n=90, seed=0) -> np.ndarray:
    """(n, 52) weights in [0, 1]: a jaw opening and closing twice, every other shape random and small."""
    w = np.random.default_rng(seed).random((n, 52)).astype(np.float32) * 0.3
    w[:, INDEX["jawOpen"]] = 0.5 * (1 - np.cos(np.linspace(0, 4 * np.pi, n)))
    return w


def _validate(path) -> dict:
    """Khronos glTF-Validator (npm) report of a .glb."""
    script = ("const v=require(process.argv[1]);const b=require('fs').readFileSync(process.argv[2]);"
              "v.validateBytes(new Uint8Array(b)).then(r=>console.log(JSON.stringify(r.issues)))")
    out = subprocess.run(["node", "-e", script, str(REPO / "viewer/node_modules/gltf-validator"), str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_arkit_names_are_found_in_every_common_spelling():
    spellings = {"jawOpen": "jawOpen", "JawOpen": "jawOpen", "blendShape1.jawOpen": "jawOpen",
                 "A25_Jaw_Open": "jawOpen", "eyeBlink_L": "eyeBlinkLeft", "EyeBlink.R": "eyeBlinkRight",
                 "ARKit_mouthSmileLeft": "mouthSmileLeft", "Head:mouthFunnel": "mouthFunnel",
                 "jawOpen.001": "jawOpen", "T10_Tongue_Out": "tongueOut"}
    for spelling, name in spellings.items():
        assert NAMES[match(spelling)[0]] == name, spelling
    for other in ("mouthOpen", "mouthSmile", "viseme_aa", "Basis", "Key 1"):
        assert match(other) is None, other


@pytest.mark.parametrize("name", ["makehuman", "ict"])
def test_blender_written_head_animates_like_the_native_template(name, assets):
    paths, templates = assets
    if name not in paths:
        pytest.skip("ICT-FaceKit not available (../shared absent)")
    native, avatar = templates[name], load_avatar(paths[name])
    assert avatar.missing == native.missing
    dist, idx = cKDTree(native.vertices).query(avatar.vertices)
    assert dist.max() < 1e-5, "Blender splits vertices at seams but moves none"
    w = _speech_curves(30)
    err = np.linalg.norm(avatar.deform(w) - native.deform(w)[:, idx], axis=-1).max()
    assert err <= 1e-4, f"vertex error {err * 1000:.4f} mm > 0.1 mm"


def test_multi_mesh_skinned_avatar_stays_in_place_and_moves_each_mesh(assets, capsys):
    paths, templates = assets
    native = templates["makehuman"]
    avatar = load_avatar(paths["avatar"])
    assert avatar.missing == [] and "missing" not in capsys.readouterr().err  # found across the meshes
    dist, idx = cKDTree(native.vertices + LIFT).query(avatar.vertices)
    assert dist.max() < 1e-5, "skinned head, scaled teeth and rotated eyes land where the file puts them"
    w = _speech_curves(20)
    err = np.linalg.norm(avatar.deform(w) - LIFT - native.deform(w)[:, idx], axis=-1).max()
    assert err <= 1e-4
    teeth = avatar.vertex_parts == 2
    assert np.abs(avatar.basis[INDEX["jawOpen"], teeth]).max() > 1e-3, "teeth carry their own jawOpen"
    assert not np.abs(avatar.basis[INDEX["eyeBlinkLeft"], teeth]).any()


def test_vrm0_avatar_faces_the_camera_and_keeps_its_extension(assets, tmp_path):
    paths, templates = assets
    native, avatar = templates["makehuman"], load_avatar(paths["vrm"])
    dist, _ = cKDTree(native.vertices).query(avatar.vertices)
    assert dist.max() < 1e-5, "VRM 0.x looks down -Z in the file; turned to face +Z"
    write_animation_glb(tmp_path / "a.glb", avatar, _speech_curves(10), 60)
    out = gltf.read(tmp_path / "a.glb")
    assert "VRM" in out.doc["extensions"] and len(out.doc["images"]) == 1
    assert len(out.doc["nodes"]) == len(avatar.source.doc["nodes"])


def test_avatar_preview_shows_its_texture_and_moves_its_mouth(assets):
    paths, _ = assets
    avatar = load_avatar(paths["vrm"])
    w = np.zeros((2, 52), np.float32)
    w[1, INDEX["jawOpen"]] = 0.8
    closed, opened = render_frames(avatar, w)
    face = closed[200:330, 180:330].reshape(-1, 3).astype(int)
    assert (face[:, 1] > face[:, 0] + 20).mean() > 0.5, "the green texture shows, not a default colour"
    diff = np.abs(mouth_crop(avatar, closed) - mouth_crop(avatar, opened)).sum(-1) > 40
    assert diff.mean() > 0.05, "the open jaw shows in the mouth region"


def test_glb_export_is_valid_and_blender_plays_it(assets, tmp_path):
    paths, templates = assets
    w = _speech_curves(90)
    mh = tmp_path / "mh.glb"
    write_animation_glb(mh, templates["makehuman"], w, 60)
    av = tmp_path / "avatar.glb"
    write_animation_glb(av, load_avatar(paths["avatar"]), w, 60)
    for path in (mh, av):
        report = _validate(path)
        assert report["numErrors"] == 0, report["messages"][:5]
    frames = [0, 22, 45, 67]
    res = blender({"read": [{"path": str(p), "fps": 60, "frames": frames, "shapes": ["jawOpen", "mouthFunnel"]}
                            for p in (mh, av)]}, tmp_path)
    for objects in res:
        checked = 0
        for values in objects.values():
            for shape, got in values.items():
                np.testing.assert_allclose(got, w[frames, INDEX[shape]], atol=1e-4)
                checked += 1
        assert checked >= 2, f"Blender found animated jawOpen/mouthFunnel shape keys: {objects}"


def test_exports_round_trip_through_the_cli(tmp_path):
    w = _speech_curves(75, seed=3)
    save_animation(tmp_path / "a.npz", w, 60, resolve("makehuman"))
    run_cli("render", "--animation", tmp_path / "a.npz", "--out", tmp_path / "out", "--no-video", "--no-obj",
            "--export", "glb,livelink,arkit-json")
    out = tmp_path / "out"
    for read, name in ((gltf.read_weights, "animation.glb"), (read_livelink, "livelink.csv"),
                       (read_arkit_json, "arkit.json")):
        got, fps = read(out / name)
        assert fps == 60 and got.shape == w.shape, name
        np.testing.assert_allclose(got, w, atol=1e-4, err_msg=name)
    header = (out / "livelink.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert header[-9:][0] == "HeadYaw" and len(header) == 2 + 52 + 9
    assert (out / "livelink.csv").read_text().splitlines()[62].startswith("00:00:01:01.000,61,")
    # an export is itself an animation the renderer takes
    run_cli("render", "--animation", out / "livelink.csv", "--out", tmp_path / "again", "--no-video")
    assert len(list((tmp_path / "again" / "meshes").glob("*.obj"))) == 75


def _broken(tmp_path, assets):
    """name -> (file, word the error names) for bad inputs built from a Blender-written avatar."""
    paths, _ = assets
    src = gltf.read(paths["avatar"])
    files = {}
    (tmp_path / "not.glb").write_text("solid cube\nendsolid\n")
    files["not glTF"] = (tmp_path / "not.glb", "not a glTF")
    raw = paths["avatar"].read_bytes()
    (tmp_path / "truncated.glb").write_bytes(raw[: len(raw) // 2])
    files["truncated"] = (tmp_path / "truncated.glb", "truncated")
    doc = json.loads(json.dumps(src.doc))
    doc["bufferViews"][0]["byteOffset"] = len(src.buffers[0]) - 4
    rewrite_glb(src, doc, tmp_path / "buffer.glb")
    files["broken buffer"] = (tmp_path / "buffer.glb", "broken buffer")
    doc = json.loads(json.dumps(src.doc))
    doc["meshes"][1]["extras"]["targetNames"].append("jawOpen")
    rewrite_glb(src, doc, tmp_path / "count.glb")
    files["count mismatch"] = (tmp_path / "count.glb", "count mismatch")
    doc = json.loads(json.dumps(src.doc))
    bad = bytearray(src.buffers[0])
    pos = doc["accessors"][doc["meshes"][1]["primitives"][0]["attributes"]["POSITION"]]
    view = doc["bufferViews"][pos["bufferView"]]
    at = view.get("byteOffset", 0) + pos.get("byteOffset", 0)
    bad[at: at + 4] = np.float32(np.nan).tobytes()
    (tmp_path / "nan.glb").write_bytes(gltf._Builder(doc, bytes(bad)).glb())
    files["non-finite"] = (tmp_path / "nan.glb", "non-finite")
    # an avatar without mouth shapes is not bad input any more: it is rigged (tests/test_rig.py)
    return files


def test_bad_avatars_give_one_line_and_write_nothing(tmp_path, assets):
    save_animation(tmp_path / "a.npz", np.zeros((3, 52)), 60, resolve("makehuman"))
    for what, (path, word) in _broken(tmp_path, assets).items():
        out = tmp_path / f"out-{path.stem}"
        proc = run_cli("render", "--animation", tmp_path / "a.npz", "--template", path, "--out", out,
                       "--no-video", "--export", "glb", check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (what, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("voca-cn: error:") and word in lines[0], (what, lines)
        assert not out.exists() and not list(tmp_path.glob(f".{out.name}*")), what


def test_cli_animates_an_avatar_into_video_and_glb(tmp_path, assets):
    paths, _ = assets
    save_animation(tmp_path / "a.npz", _speech_curves(30), 60, resolve("makehuman"))
    run_cli("render", "--animation", tmp_path / "a.npz", "--template", paths["avatar"], "--out", tmp_path / "out",
            "--no-obj", "--size", "128x128", "--export", "glb")
    assert (tmp_path / "out" / "preview.mp4").stat().st_size > 1000
    out = gltf.read(tmp_path / "out" / "animation.glb")
    assert [n.get("name") for n in out.doc["nodes"]] == [n.get("name") for n in gltf.read(paths["avatar"]).doc["nodes"]]
    paths_of = [c["target"]["path"] for c in out.doc["animations"][0]["channels"]]
    assert paths_of.count("weights") == 3, "head, teeth and eyes each get their curves"
    assert paths_of.count("rotation") == 1, "the head (here the root: no head bone) turns"

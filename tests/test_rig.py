"""Any head: a user's own mesh of any topology is rigged with the 52 ARKit shapes, and a VRM without
them animates through its standard expressions (real renderer, real face tracker, real Blender)."""

from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, run_cli

from voca_cn import VocaError
from voca_cn.core.arkit import INDEX
from voca_cn.face.template import PARTS, Template
from voca_cn.render import render_frames

HEADS = SHARED / "assets" / "heads-3p"
MASK = HEADS / "mediapipe-canonical-face" / "canonical_face_model.obj"
SCAN = HEADS / "lps-head" / "LeePerrySmith.obj"
VRM = HEADS / "godette-vrm" / "Godette_vrm_v4.vrm"


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/assets/heads-3p is absent)")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A fresh $VOCA_CN_HOME: the user template folder and the rig cache start empty."""
    import os

    old = os.environ.get("VOCA_CN_HOME")
    os.environ["VOCA_CN_HOME"] = str(tmp_path_factory.mktemp("home"))
    yield Path(os.environ["VOCA_CN_HOME"])
    if old is None:
        del os.environ["VOCA_CN_HOME"]
    else:
        os.environ["VOCA_CN_HOME"] = old


@pytest.fixture(scope="module")
def scan(home):
    from voca_cn.rig import rig_head

    return rig_head(_need(SCAN))


def _jaw(*values) -> np.ndarray:
    w = np.zeros((len(values), 52), np.float32)
    w[:, INDEX["jawOpen"]] = values
    return w


def test_a_scan_with_fused_lips_opens_its_mouth(scan):
    aperture = scan.aperture(scan.deform(_jaw(0, 0.25, 0.5, 1.0)))
    assert aperture[0] < 0.05, "closed at rest, as scanned"
    assert np.all(np.diff(aperture) > 0) and aperture[-1] > 0.3, f"jawOpen opens the cut lips: {aperture}"
    assert len(scan.missing) == 0, "all 52 shapes carried over"
    eye = scan.vertex_parts == PARTS.index("eye")
    mouth = np.isin(scan.vertex_parts, [PARTS.index("mouth"), PARTS.index("teeth")])
    assert eye.any() and mouth.any(), "eyeballs and a mouth inside were added"
    corners = scan.vertices[scan.mouth_corners]
    far = scan.vertices[:, 1] < corners[:, 1].min() - 3 * np.linalg.norm(corners[0] - corners[1])
    assert far.any()
    assert np.abs(scan.basis[:, far]).max() == 0, "the bust below the chin stays rigid"


def test_a_tracker_reads_the_opening_mouth_on_the_rigged_scan(scan):
    from voca_cn.video.tracking import _Landmarker, aperture

    frames = render_frames(scan, _jaw(0, 0.3, 0.6, 0.9))
    with _Landmarker(per_frame=True) as tracker:
        found = [tracker.detect(f, 0)[1] for f in frames]
    assert all(f is not None for f in found), "a face is seen in every frame"
    seen = aperture(np.stack([f[0] for f in found]))
    assert np.all(np.diff(seen) > 0), f"the tracked mouth opens with the jaw: {seen}"


def test_rigged_head_survives_the_template_file(scan, tmp_path):
    scan.save(tmp_path / "t.npz")
    back = Template.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.basis, scan.basis)
    np.testing.assert_array_equal(back.inner_lip, scan.inner_lip)


def test_template_option_rigs_an_unknown_mesh_once_and_caches_it(home, tmp_path):
    mask = _need(MASK)
    out = run_cli("template", "rig", mask, "--name", "mask", "--out", tmp_path / "mask.npz")
    assert Path(out.stdout.strip()) == tmp_path / "mask.npz"
    t = Template.load(tmp_path / "mask.npz")
    assert t.name == "mask" and t.present[INDEX["jawOpen"]]
    from voca_cn.rig import resolve

    first = resolve(mask)
    assert list((home / "templates" / "rigged").glob("canonical_face_model-*.npz")), "cached by file hash"
    again = resolve(mask)
    np.testing.assert_array_equal(first.basis, again.basis)
    np.testing.assert_array_equal(first.vertices, t.vertices)


def test_eyeballs_modelled_as_shells_of_an_unlabelled_mesh_stay_the_heads_eyes(scan, tmp_path):
    """A game head often comes as one OBJ with its eyeballs as separate shells and nothing naming
    them: they are found as eyes (drawn as eyes, never moved by the shapes), not covered by ours."""
    import trimesh

    from voca_cn.rig import rig_head

    eye = scan.vertex_parts == PARTS.index("eye")
    keep = np.isin(scan.vertex_parts, [PARTS.index("skin"), PARTS.index("eye")])
    mesh = trimesh.Trimesh(scan.vertices, scan.faces[keep[scan.faces].all(1)], process=False)
    mesh.remove_unreferenced_vertices()
    mesh.export(tmp_path / "head_with_eyes.obj")
    t = rig_head(tmp_path / "head_with_eyes.obj")
    mine = t.vertex_parts == PARTS.index("eye")
    assert mine.sum() == eye.sum(), "the file's eyeballs are the eyes, and no others were added"
    assert np.flatnonzero(mine).max() < len(mesh.vertices), "they are the file's own (added parts come last)"
    assert np.abs(t.basis[:, mine]).max() == 0, "eyeballs stay rigid while the lids blink"
    blink = t.deform(np.eye(52, dtype=np.float32)[[INDEX["eyeBlinkLeft"]]])[0]
    assert np.abs(blink - t.vertices).max() > 0, "the lids still blink"


def test_a_mesh_without_a_face_is_refused_in_one_line(home, tmp_path):
    import trimesh

    path = tmp_path / "ball.obj"
    trimesh.creation.icosphere(subdivisions=2).export(path)
    proc = run_cli("template", "rig", path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("voca-cn: error: no face found on")
    assert not list((home / "templates").glob("ball*")), "nothing written"


def test_vrm_without_perfect_sync_drives_its_expressions(tmp_path):
    from gltf_assets import blender

    from voca_cn.formats.avatar import load_avatar, write_animation_glb
    from voca_cn.formats.gltf import read, target_names
    from voca_cn.formats.vrm import DRIVE

    avatar = load_avatar(_need(VRM))
    opened = avatar.aperture(avatar.deform(_jaw(0, 1.0)))
    assert opened[1] > opened[0] + 0.1, f"jawOpen drives the 'A' expression: {opened}"
    w = _jaw(*np.linspace(0, 1, 30))
    w[:, INDEX["mouthPucker"]] = np.linspace(1, 0, 30)
    write_animation_glb(tmp_path / "a.glb", avatar, w, 30)
    from test_gltf import _validate

    assert _validate(tmp_path / "a.glb")["numErrors"] == 0
    doc = read(tmp_path / "a.glb").doc
    assert doc["animations"][0]["name"] == "voca_cn", "our take comes first"
    names = target_names(doc["meshes"][0])
    a, u = names[5], names[7]  # Godette's VRM 0.x groups: A binds target 5, U target 7
    res = blender({"read": [{"path": str(tmp_path / "a.glb"), "fps": 30, "frames": [0, 29], "shapes": [a, u]}]},
                  tmp_path)
    values = next((v for v in res[0].values() if a in v), None)
    assert values, f"Blender sees animated shape keys {a!r}, {u!r}: {res}"
    np.testing.assert_allclose(values[a], [0, 1], atol=1e-3)
    np.testing.assert_allclose(values[u], [DRIVE["ou"]["mouthPucker"], 0], atol=1e-3)


def test_rig_refuses_what_is_not_a_head_file(tmp_path):
    from voca_cn.rig import rig_head

    (tmp_path / "head.txt").write_text("hello")
    with pytest.raises(VocaError, match="cannot rig"):
        rig_head(tmp_path / "head.txt")


def test_vmc_names_for_a_vrm_without_perfect_sync():
    from voca_cn.apps.live import vmc_values

    w = np.zeros(52, np.float32)
    w[INDEX["jawOpen"]], w[INDEX["eyeBlinkLeft"]] = 0.6, 1.0
    vrm = dict(vmc_values(w, "vrm"))
    assert vrm["A"] == pytest.approx(0.6) and vrm["Blink_L"] == 1.0 and vrm["O"] == 0.0
    assert "JawOpen" not in vrm
    both = dict(vmc_values(w, "both"))
    assert both["JawOpen"] == pytest.approx(0.6) and both["A"] == pytest.approx(0.6)


def test_rigged_head_exports_a_valid_glb_that_blender_plays(scan, tmp_path):
    from gltf_assets import blender
    from test_gltf import _validate

    from voca_cn.formats.avatar import write_animation_glb

    w = _jaw(*np.linspace(0, 1, 30))
    write_animation_glb(tmp_path / "scan.glb", scan, w, 30)
    report = _validate(tmp_path / "scan.glb")
    assert report["numErrors"] == 0, report["messages"][:3]
    res = blender({"read": [{"path": str(tmp_path / "scan.glb"), "fps": 30, "frames": [0, 15, 29],
                             "shapes": ["jawOpen"]}]}, tmp_path)
    values = next(v for v in res[0].values() if "jawOpen" in v)
    np.testing.assert_allclose(values["jawOpen"], w[[0, 15, 29], INDEX["jawOpen"]], atol=1e-3)

"""Templates: built-in makehuman, ICT import, user-edited heads, clear refusals."""

import numpy as np
import pytest
from conftest import run_cli

from voca_cn import VocaError
from voca_cn.core.arkit import NAMES
from voca_cn.face.template import Template
from voca_cn.formats import resolve
from voca_cn.formats.obj import read_mesh


def test_makehuman_is_a_small_complete_head():
    t = resolve("makehuman")
    assert t.missing == []
    assert 3000 < t.n_vertices < 10000
    extent = t.vertices.max(0) - t.vertices.min(0)
    assert 0.15 < extent[1] < 0.35, "a head is 15-35 cm tall in metres"
    assert "CC0" in t.licence
    # lips are separated at rest: a small gap, not welded
    assert 0.0 < t.inner_lip_gap(t.vertices[None])[0] < 0.003


def test_list_and_export_roundtrip(tmp_path):
    listing = run_cli("template", "list").stdout
    assert "makehuman" in listing and "missing: none" in listing
    run_cli("template", "export", "makehuman", tmp_path / "head.obj")
    v, f = read_mesh(tmp_path / "head.obj")
    t = resolve("makehuman")
    np.testing.assert_allclose(v, t.vertices, atol=1e-6)
    np.testing.assert_array_equal(f, t.faces)


def test_edited_head_of_same_topology_is_accepted(tmp_path):
    t = resolve("makehuman")
    run_cli("template", "export", "makehuman", tmp_path / "head.obj")
    text = (tmp_path / "head.obj").read_text().splitlines()
    # widen the head by 5% as a user would in a modelling tool
    edited = [f"v {float(l.split()[1]) * 1.05:.6f} {l.split()[2]} {l.split()[3]}" if l.startswith("v ") else l
              for l in text]
    (tmp_path / "wide.obj").write_text("\n".join(edited) + "\n")
    w = resolve(tmp_path / "wide.obj")
    assert w.n_vertices == t.n_vertices
    np.testing.assert_allclose(w.vertices[:, 0], t.vertices[:, 0] * 1.05, atol=1e-5)
    np.testing.assert_array_equal(w.basis, t.basis)


def test_unknown_topology_lists_accepted_ones(tmp_path):
    (tmp_path / "tri.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(VocaError, match="makehuman"):
        resolve(tmp_path / "tri.obj")
    with pytest.raises(VocaError, match="not found"):
        resolve("no-such-head")


def test_import_ict_keeps_upstream_order_and_units(ict_dir, ict_template, tmp_path):
    from voca_cn.formats.ict import read_obj_vertices

    t = ict_template
    assert t.n_vertices == 26719
    assert t.missing == ["tongueOut"]
    raw = read_obj_vertices(ict_dir / "generic_neutral_mesh.obj")
    from voca_cn.formats.ict import INTERIOR

    inside = np.zeros(len(raw), bool)
    inside[INTERIOR[0]:INTERIOR[1] + 1] = True
    np.testing.assert_allclose(t.vertices[~inside], raw[~inside] * 0.01, atol=1e-6)
    # gums, tongue and teeth only slide straight back, together, to sit behind the lips
    shift = t.vertices[inside] - raw[inside] * 0.01
    np.testing.assert_allclose(shift[:, :2], 0, atol=1e-6)
    assert -0.006 < shift[:, 2].min() and np.ptp(shift[:, 2]) < 1e-6
    # neutral inner-lip gap between landmarks 62/66 is 0.8 mm (measured upstream)
    assert abs(t.inner_lip_gap(t.vertices[None])[0] - 0.0008) < 0.0002
    jaw = t.basis[NAMES.index("jawOpen")]
    assert np.linalg.norm(jaw, axis=1).max() > 0.01, "jawOpen moves the chin by centimetres"


def test_import_ict_identities_are_distinct_and_reproducible(ict_dir, tmp_path):
    a = tmp_path / "a.npz"
    b = tmp_path / "b.npz"
    a2 = tmp_path / "a2.npz"
    run_cli("template", "import-ict", ict_dir, "--identity-seed", "1", "--out", a)
    run_cli("template", "import-ict", ict_dir, "--identity-seed", "2", "--out", b)
    run_cli("template", "import-ict", ict_dir, "--identity-seed", "1", "--out", a2)
    ta, tb, ta2 = Template.load(a), Template.load(b), Template.load(a2)
    np.testing.assert_array_equal(ta.vertices, ta2.vertices)
    assert np.abs(ta.vertices - tb.vertices).max() > 0.002, "two seeds give visibly different heads"
    assert resolve(a).n_vertices == 26719


def test_bad_ict_folder(tmp_path):
    proc = run_cli("template", "import-ict", tmp_path, check=False)
    assert proc.returncode == 2
    assert "FaceXModel" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1

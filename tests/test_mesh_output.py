"""Mesh output at disk speed: the OBJ sequence keeps its bytes, and the PC2 point cache plays in Blender
exactly as the OBJ sequence moves."""

import numpy as np

from conftest import run_cli
from gltf_assets import blender
from voca_cn.core.arkit import INDEX
from voca_cn.formats import resolve
from voca_cn.formats.animation import save_animation
from voca_cn.formats.obj import ObjWriter, read_mesh, vertex_lines, write_obj_sequence
from voca_cn.formats.pc2 import read_pc2


def _printf(vertices):
    """How OBJ vertex lines were always written: Python's %.6f, one value at a time."""
    return ("v %.6f %.6f %.6f\n" * len(vertices) % tuple(vertices.ravel().tolist())).encode()


def test_obj_files_keep_their_bytes(tmp_path):
    t = resolve("makehuman")
    rng = np.random.default_rng(0)
    w = np.clip(np.cumsum(rng.normal(0, 0.05, (40, 52)), 0), 0, 1).astype(np.float32)
    write_obj_sequence(tmp_path / "meshes", t, w, progress=False)
    tail = ObjWriter(t).tail
    for i, v in enumerate(t.deform(w)):
        assert (tmp_path / "meshes" / f"{i:06d}.obj").read_bytes() == _printf(v) + tail, f"frame {i}"


def test_vertex_text_matches_printf_on_hard_numbers():
    rng = np.random.default_rng(1)
    ties = (np.arange(-400_000, 400_000, 7) + 0.5) / 1e6  # halfway between two 6-decimal numbers
    hard = [0.0, -0.0, 1 / 128, -1 / 128, 5e-7, -5e-7, 0.9999995, -9.9999995, 99999.99, -12345.678, 1e-45, 2.5e-7]
    values = np.r_[ties, hard, rng.choice([-1, 1], 30_000) * 10.0 ** rng.uniform(-9, 5, 30_000),
                   1e7, -3e12]  # the last two: beyond a head's size, the slow path
    v = values[: len(values) // 6 * 6].astype(np.float32).reshape(2, -1, 3)
    for got, frame in zip(vertex_lines(v), v):
        assert got == _printf(frame)
    got = vertex_lines(v[:, :-1])  # without the huge values: the fast path on every number
    assert got == [_printf(frame) for frame in v[:, :-1]]


def test_pc2_plays_in_blender_like_the_obj_sequence(tmp_path, speech):
    wav, _ = speech
    out = tmp_path / "out"
    run_cli("animate", "--audio", wav, "--out", out, "--no-video", "--export", "pc2")
    objs = sorted((out / "meshes").glob("*.obj"))
    cache = read_pc2(out / "animation.pc2")
    assert cache.shape[:2] == (len(objs), resolve("makehuman").n_vertices)
    assert (out / "animation.pc2").stat().st_size * 9 < sum(f.stat().st_size for f in objs)
    jaw = np.load(out / "animation.npz")["weights"][:, INDEX["jawOpen"]]
    frames = [0, int(np.argmax(jaw)), len(objs) - 1]
    blender({"cache": [{"obj": str(out / "animation.obj"), "pc2": str(out / "animation.pc2"), "frames": frames,
                        "out": str(tmp_path / "blender.npz")}]}, tmp_path)
    seen = np.load(tmp_path / "blender.npz")["frames"]
    for k, positions in zip(frames, seen):
        obj_vertices, _ = read_mesh(objs[k])
        np.testing.assert_allclose(positions, obj_vertices, atol=6e-7, err_msg=f"scene frame {k} = meshes/{k:06d}.obj")
    t = resolve("makehuman")
    gap = t.inner_lip_gap(seen)
    assert gap[1] > gap[0] + 0.003, "the mouth Blender shows opens where jawOpen peaks"


def test_twenty_minutes_of_obj_files_are_not_written_without_asking(tmp_path):
    t = resolve("makehuman")
    save_animation(tmp_path / "long.npz", np.zeros((20 * 60 * 60, 52), np.float32), 60, t)
    proc = run_cli("render", "--animation", tmp_path / "long.npz", "--out", tmp_path / "out", "--no-video", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "GB" in proc.stderr and "--obj" in proc.stderr and "pc2" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz"], "nothing written"
    run_cli("render", "--animation", tmp_path / "long.npz", "--out", tmp_path / "out", "--no-video", "--no-obj")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["animation.npz"]

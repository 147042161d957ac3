"""The preview as a viewer (and a face tracker) sees it: a readable open mouth, teeth behind the
lips, eyes with irises, the face framed, and a reference video beside it."""

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import run_cli

from voca_cn.core.arkit import INDEX, NAMES
from voca_cn.face.template import mouth_range
from voca_cn.formats import resolve
from voca_cn.formats.animation import save_animation
from voca_cn.render import RenderMesh, project, render_frames, render_video


def _template(name, request):
    return resolve("makehuman") if name == "makehuman" else request.getfixturevalue("ict_template")


def _talking(n: int) -> np.ndarray:
    """Weights (n, 52) at 60 fps: a jaw opening and closing three times a second, lips puckering
    and rounding on their own rhythm (what speech does to the mouth)."""
    t = np.arange(n) / 60
    w = np.zeros((n, 52), np.float32)
    w[:, INDEX["jawOpen"]] = 0.3 * (1 - np.cos(2 * np.pi * 3 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    w[:, INDEX["mouthPucker"]] = 0.25 * (1 + np.sin(2 * np.pi * 1.3 * t))
    w[:, INDEX["mouthFunnel"]] = 0.2 * (1 + np.sin(2 * np.pi * 0.9 * t + 1))
    return w


@pytest.mark.parametrize("name", ["makehuman", "ict"])
def test_face_tracker_reads_the_mouth_opening_in_the_preview(name, request, tmp_path):
    """MediaPipe's FaceLandmarker on our own MP4 finds the face in every frame and sees the mouth
    open and close as far as the mesh does (not a dark-pink blob read as thick lips)."""
    from voca_cn.video.tracking import track_video

    t = _template(name, request)
    w = _talking(120)
    render_video(t, w, tmp_path / "p.mp4")
    tracked = track_video(tmp_path / "p.mp4", progress=False, per_frame=True)
    intended = t.aperture(t.deform(w))
    assert tracked.found.all()
    assert np.corrcoef(intended, tracked.aperture)[0, 1] > 0.95
    spread = lambda x: np.percentile(x, 90) - np.percentile(x, 10)  # noqa: E731
    assert spread(tracked.aperture) > 0.85 * spread(intended)


@pytest.mark.parametrize("name", ["makehuman", "ict"])
def test_no_tooth_shows_through_the_lips_anywhere_in_the_mouth_range(name, request):
    t = _template(name, request)
    """Every mouth shape alone and in pairs over the jaw's range, and 200 random mixes of three at
    up to 0.5 with any jaw opening (speech blends a few shapes at a time): no tooth in front of
    the lips."""
    rng = np.random.default_rng(1)
    mouth = [k for k, n in enumerate(NAMES) if n.startswith(("jaw", "mouth", "cheek", "tongue"))]
    mixes = np.zeros((200, 52), np.float32)
    for row in mixes:
        row[rng.choice(mouth, 3, replace=False)] = rng.uniform(0, 0.5, 3)
        row[INDEX["jawOpen"]] = max(row[INDEX["jawOpen"]], rng.uniform(0, 1))
        row[INDEX["mouthClose"]] = min(row[INDEX["mouthClose"]], 0.85 * row[INDEX["jawOpen"]])
    weights = np.concatenate([mouth_range(), mixes])
    assert t.teeth_through_lips(t.deform(weights)).max() == 0.0


def _dark(patch) -> bool:
    """Some pixel of a patch is near black (the catch light may sit on the pupil itself)."""
    return int(patch.max(-1).min()) < 45


@pytest.mark.parametrize("name", ["makehuman", "ict"])
def test_face_is_framed_and_eyes_have_pupils(name, request):
    t = _template(name, request)
    mesh = RenderMesh.from_template(t)
    face, head = render_frames(t, np.zeros((1, 52), np.float32)), render_frames(t, np.zeros((1, 52)), view="head")
    chin = project(t, t.vertices[[mesh.chin]], 512, 512)[0]
    apexes = [apex for apex, _ in mesh.eyes]  # the front shell of each eye (ICT has two per eye)
    apexes = [max((a for a in apexes if np.sign(t.vertices[a, 0]) == side), key=lambda a: t.vertices[a, 2])
              for side in (-1, 1)]
    pupils = project(t, t.vertices[apexes], 512, 512)
    assert 0.80 * 512 < chin[1] < 0.97 * 512, "the chin sits near the bottom of the frame, not in its middle"
    assert (0.25 * 512 < pupils[:, 1]).all() and (pupils[:, 1] < 0.5 * 512).all()
    for x, y in pupils.round().astype(int):
        img = face[0]
        assert _dark(img[y - 3:y + 4, x - 3:x + 4]), "a dark pupil in the middle of each eye"
        for iris in (img[y - 1:y + 2, x + 10:x + 13], img[y - 1:y + 2, x - 12:x - 9]):
            r, g, b = iris.reshape(-1, 3).mean(0)
            assert r > 45 and r > b + 20, "ringed by a brown iris, not a white ball"
    pupils_head = project(t, t.vertices[apexes], 512, 512, view="head")
    assert np.ptp(pupils_head[:, 0]) < 0.85 * np.ptp(pupils[:, 0]), "--view head pulls back"
    top = np.where((np.abs(head[0].astype(int) - head[0][0, 0]).sum(-1) > 30).any(axis=1))[0]
    assert top.min() > 0, "and shows the top of the head"


def _colour_video(path, seconds: float):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=red:s=320x240:r=25:d={seconds}", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_beside_puts_a_reference_video_next_to_the_preview(tmp_path, speech):
    wav, _ = speech
    t = resolve("makehuman")
    save_animation(tmp_path / "a.npz", _talking(120), 60, t)
    ref = _colour_video(tmp_path / "ref.mp4", 1.0)
    proc = run_cli("render", "--animation", tmp_path / "a.npz", "--audio", wav, "--out", tmp_path / "out",
                   "--no-obj", "--beside", ref)
    assert "held" in proc.stderr, "a shorter reference is padded, and the user is told"
    frames = imageio_ffmpeg.read_frames(str(tmp_path / "out" / "preview.mp4"))
    meta = next(frames)
    assert meta["size"] == (512 + 682, 512), "the reference is scaled to the preview's height, aspect kept"
    last = np.frombuffer(list(frames)[-1], np.uint8).reshape(512, 1194, 3)
    right, left = last[:, 600:].reshape(-1, 3).mean(0), last[:, :512]
    assert right[0] > 200 and right[1] < 60, "the reference's last frame is held"
    assert not (left[..., 0] > 200).all(), "the head stays on the left"


def test_beside_refuses_what_is_not_a_video(tmp_path, speech):
    wav, _ = speech
    save_animation(tmp_path / "a.npz", _talking(10), 60, resolve("makehuman"))
    for bad, expect in ((wav, "not a readable video"), (tmp_path / "none.mp4", "does not exist")):
        proc = run_cli("render", "--animation", tmp_path / "a.npz", "--out", tmp_path / "out", "--beside", bad,
                       check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expect in lines[0], proc.stderr
        assert not (tmp_path / "out").exists()

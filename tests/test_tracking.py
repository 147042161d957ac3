"""Real lips: face tracking in real talking-face video, curves a template replays, sync offsets."""

import json
import subprocess

import imageio_ffmpeg
import numpy as np
from conftest import run_cli

from voca_cn.core.arkit import INDEX
from voca_cn.formats import load_animation, resolve
from voca_cn.training.corpus import split_of_prompt


def _clip(grid, stem):
    return grid / "clips" / f"{stem}.mp4"


def _words(grid, stem):
    rows = [ln.split() for ln in (grid / "align" / f"{stem}.align").read_text().splitlines()]
    return [(int(a) / 25000, int(b) / 25000, w) for a, b, w in rows]


def test_track_gives_real_curves_that_open_the_mouth_when_he_speaks(grid, tmp_path):
    stem = "bbaf2n"
    out = tmp_path / "t"
    summary = json.loads(run_cli("track", _clip(grid, stem), "--out", out).stdout)
    assert summary["faces_found"] == summary["frames"] == 75
    assert sorted(p.name for p in out.iterdir()) == ["animation.npz", "audio.wav", "tracking.npz"]
    weights, fps = load_animation(out / "animation.npz")
    assert fps == 60 and len(weights) == 180
    tracking = np.load(out / "tracking.npz")
    assert tracking["landmarks"].shape == (75, 478, 3) and tracking["found"].all()
    # the mouth is shut in the leading silence and opens on the words
    words = [w for w in _words(grid, stem) if w[2] not in ("sil", "sp")]
    t = np.arange(len(weights)) / 60
    speech = (t > words[0][0]) & (t < words[-1][1])
    silence = t < words[0][0] - 0.5  # he parts his lips to breathe ~0.3 s before speaking
    t25 = np.arange(75) / 25
    ap = tracking["aperture"]
    assert ap[(t25 > words[0][0]) & (t25 < words[-1][1])].max() > 0.1
    assert ap[t25 < words[0][0] - 0.5].max() < 0.05
    assert weights[speech, INDEX["jawOpen"]].max() > 3 * weights[silence, INDEX["jawOpen"]].max()
    # replayed on the template, the head opens its mouth exactly as far as the speaker does
    t = resolve("makehuman")
    replay = t.aperture(t.deform(weights))[::12][:25]  # 60 -> 5 fps, on the 25 fps frames
    assert np.corrcoef(replay, ap[::5][:25])[0, 1] > 0.99
    # and `render` re-animates the head with the real performance and the video's sound
    run_cli("render", "--animation", out / "animation.npz", "--audio", _clip(grid, stem), "--out",
            tmp_path / "r", "--no-obj")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
                            tmp_path / "r" / "preview.mp4"], capture_output=True, text=True).stdout.split()
    assert probe == ["h264", "aac"]


def test_video_without_a_face_or_not_a_video_gets_one_line(tmp_path):
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    blank = tmp_path / "blank.mp4"
    subprocess.run([ff, "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=160x120:d=1", "-r", "25", blank],
                   check=True)
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    for video, words in ((blank, "no face"), (fake, "cannot read video"), (tmp_path / "none.mov", "does not exist")):
        proc = run_cli("track", video, "--out", tmp_path / "o", check=False)
        assert proc.returncode == 2
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("voca-cn: error:")]
        assert len(errors) == 1 and words in errors[0] and "Traceback" not in proc.stderr
        assert not (tmp_path / "o").exists()


def test_sync_recovers_a_known_audio_delay(grid, tmp_path):
    """The first three held-out clips, soundtrack delayed by 200 ms: sync says ~+200 ms."""
    stems = sorted(p.stem for p in (grid / "clips").glob("*.mp4") if split_of_prompt(p.stem) == "test")[:3]
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    errors = []
    for stem in stems:
        late = tmp_path / f"{stem}.mp4"
        subprocess.run([ff, "-v", "error", "-i", _clip(grid, stem), "-af", "adelay=200:all=1", "-c:v", "copy",
                        late], check=True)
        result = json.loads(run_cli("sync", late).stdout)
        errors.append(abs(result["offset_ms"] - 200))
        assert "audio late" in result["convention"]
    assert sorted(errors)[1] <= 40, f"offsets off by {errors} ms"


def test_data_build_makes_items_from_video_with_real_curves(grid, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for stem in ("bbaf2n", "bbaf3s"):
        (videos / f"{stem}.mp4").symlink_to(_clip(grid, stem))
        (videos / f"{stem}.txt").write_text(" ".join(w for *_, w in _words(grid, stem) if w not in ("sil", "sp")))
    out = tmp_path / "c"
    run_cli("data", "build", "--out", out, "--hours", "0", "--kathleen", "", "--video", videos)
    rows = [json.loads(ln) for ln in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["video", "video"] and rows[0]["text"] == "bin blue at f two now"
    item = np.load(out / "items" / f"{rows[0]['id']}.npz")
    assert item["weights"].shape == item["tracked"].shape == (len(item["aperture"]), 52)
    assert item["aperture"].max() > 0.1 and "b" in item["labels"]


def test_evaluate_video_measures_every_method_against_real_lips(grid, tmp_path):
    report = tmp_path / "r.json"
    run_cli("evaluate", "--video", grid, "--split", "test", "--limit", "3",
            "--methods", "model,aligned,amplitude", "--json", report)
    res = json.loads(report.read_text())
    for m in ("model", "aligned", "amplitude"):
        assert res[m]["items"] == 3 and -1 <= res[m]["aperture_r"] <= 1
    assert res["model"]["aperture_r"] > res["amplitude"]["aperture_r"], "speech beats loudness"
    assert res["aligned"]["bilabial_closed"] == 1.0, "p/b/m stay hard closures"


def test_tracking_file_is_the_same_bytes_for_the_same_tracking(tmp_path):
    """tracking.npz is written with fixed zip timestamps (numpy's stamp the wall clock) and reads back."""
    import time

    from voca_cn.video.tracking import Tracking

    rng = np.random.default_rng(0)
    landmarks = rng.uniform(0, 100, (5, 478, 3)).astype(np.float32)
    t = Tracking(25.0, (64, 48), landmarks, rng.uniform(0, 1, (5, 52)).astype(np.float32),
                 np.tile(np.eye(4, dtype=np.float32), (5, 1, 1)), np.array([1, 1, 0, 1, 1], bool))
    t.save(tmp_path / "a.npz")
    time.sleep(2.1)  # zip timestamps have 2 s resolution
    t.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = Tracking.load(tmp_path / "a.npz")
    assert back.fps == 25.0 and back.size == (64, 48) and np.array_equal(back.landmarks, landmarks)

"""`voca-cn view`: the web page in real headless Chromium (WebGL on SwiftShader), three.js from npm."""

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from chromium import Browser
from conftest import run_cli

from voca_cn.core.arkit import INDEX
from voca_cn.formats import resolve
from voca_cn.formats.animation import save_animation

READY = "document.body && document.body.dataset.ready === '1'"


@pytest.fixture
def viewer(tmp_path, speech):
    """(URL, audio seconds) of `voca-cn view` serving a makehuman animation.glb: mouth shut in the first
    half of the speech, open in the second."""
    wav, _ = speech
    seconds = sf.info(wav).duration
    n = int(seconds * 60)
    w = np.zeros((n, 52), np.float32)
    w[n // 2:, INDEX["jawOpen"]] = 0.8
    save_animation(tmp_path / "a.npz", w, 60, resolve("makehuman"))
    run_cli("render", "--animation", tmp_path / "a.npz", "--out", tmp_path / "out", "--no-video", "--no-obj",
            "--export", "glb")
    server = subprocess.Popen([sys.executable, "-m", "voca_cn", "view", tmp_path / "out", "--port", "0",
                               "--audio", wav], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), server.stderr.read()
        yield url, seconds
    finally:
        server.kill()
        server.wait()


def _png(data: bytes) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(io.BytesIO(data)).astype(int)[..., :3]


def test_page_plays_the_animation_with_audio_and_scrubs(viewer):
    url, seconds = viewer
    browser = Browser()
    try:
        shut = _png(browser.screenshot(f"{url}?t={seconds * 0.25:.3f}", READY))
        opened = _png(browser.screenshot(f"{url}?t={seconds * 0.75:.3f}", READY))
        audio_seconds = browser.evaluate("document.getElementById('audio').duration")
        browser.evaluate("const s = document.getElementById('scrub'); s.value = 0.5; s.dispatchEvent(new Event('input'))")
        scrubbed = browser.evaluate("document.getElementById('audio').currentTime")
    finally:
        browser.close()
    assert abs(audio_seconds - seconds) < 0.05, "the page loaded the speech"
    assert abs(scrubbed - seconds / 2) < 0.05, "the scrub bar seeks the audio"
    face = np.abs(shut - shut[5, 5]).sum(-1) > 30  # not the background
    face[-60:] = False  # the control bar
    rows, cols = np.where(face)
    assert face.mean() > 0.1, "the head is drawn and framed"
    diff = np.abs(shut - opened).sum(-1) > 60
    top, bottom = rows.min(), rows.max()
    mouth = diff[top + (bottom - top) * 2 // 3: bottom + 20, cols.min(): cols.max()]
    assert mouth.mean() > 0.02, "the mouth region opens at the open-mouth time"
    assert diff[top: top + (bottom - top) // 2].mean() < 0.002, "the top of the head stays put"


def test_view_without_animation_glb_is_one_line(tmp_path):
    proc = run_cli("view", tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--export glb" in proc.stderr

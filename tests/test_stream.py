"""Live streaming: same frames as offline, within the look-ahead, to a VMC/OSC receiver."""

import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import robust_model_reading, run_cli, speak


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from voca_cn.audio import load as audio

    wav = speak("Bob bought a map. Pam may buy my puppy.", tmp_path_factory.mktemp("s") / "s.wav")
    return wav, audio.load(wav)


@pytest.fixture(scope="module")
def model_4_1(tmp_path_factory):
    """The shipped networks run with the default config's look-ahead (phonetic 4, lip-sync 1)."""
    from voca_cn.motion.onnx import MODELS

    out = tmp_path_factory.mktemp("m41")
    for name, lookahead in (("phonetic", 4), ("lipsync", 1)):
        shutil.copy(MODELS / f"{name}.onnx", out / f"{name}.onnx")
        meta = json.loads((MODELS / f"{name}.json").read_text())
        meta["lookahead"] = lookahead
        (out / f"{name}.json").write_text(json.dumps(meta))
    return out


@pytest.fixture(scope="module")
def model_noise_floor(tmp_path_factory):
    """The robust networks read through the noise-floor front end (``front_end`` in phonetic.json)."""
    return robust_model_reading("noise-floor", tmp_path_factory.mktemp("floor"))


@pytest.mark.parametrize("model", [None, "model_4_1", "model_noise_floor"])
def test_stream_gives_the_offline_frames_for_any_chunking(samples, model, request):
    import voca_cn

    model = request.getfixturevalue(model) if model else None
    _, y = samples
    if model is not None and model.name.startswith("floor"):  # a hiss under the voice for the floor to follow
        y = np.clip(y + 0.01 * np.random.default_rng(5).standard_normal(len(y)), -1, 1).astype(np.float32)
    offline = voca_cn.animate(y, sr=16000, model=model).weights
    rng = np.random.default_rng(0)
    for sizes in ([160], [1], [7, 333, 16000], list(rng.integers(1, 2000, 50))):
        s = voca_cn.Stream(model)
        parts, i, k = [], 0, 0
        while i < len(y):
            parts.append(s.push(y[i:i + sizes[k % len(sizes)]]))
            i, k = i + sizes[k % len(sizes)], k + 1
        parts.append(s.close())
        got = np.concatenate(parts)
        assert got.shape == offline.shape and np.abs(got - offline).max() < 1e-5


def test_frames_leave_within_the_look_ahead(samples, model_4_1):
    """With the default config's look-ahead every frame is final <= 79.2 ms after its start, and
    the worst frame needs all of it (so the figure is the real one)."""
    import voca_cn

    _, y = samples
    s = voca_cn.Stream(model_4_1)
    assert s.lookahead_ms() == pytest.approx(79.2, abs=0.05)
    late = []
    for i in range(0, len(y), 16):  # 1 ms pushes
        for _ in s.push(y[i:i + 16]):
            late.append((i + 16) / 16000 - len(late) / 60)
    assert max(late) * 1000 <= s.lookahead_ms() + 1.0 and max(late) * 1000 >= s.lookahead_ms() - 1.0


def test_stream_command_sends_vmc_blendshapes_over_osc(samples):
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import BlockingOSCUDPServer

    import voca_cn
    from voca_cn.core.arkit import NAMES

    wav, y = samples
    values, applied = [], []
    dispatcher = Dispatcher()
    dispatcher.map("/VMC/Ext/Blend/Val", lambda _addr, name, value: values.append((name, value)))
    dispatcher.map("/VMC/Ext/Blend/Apply", lambda _addr: applied.append(len(values)))
    server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = run_cli("stream", "--audio", wav, "--osc", f"127.0.0.1:{server.server_address[1]}", "--stats")
        deadline = time.time() + 5
        n = len(voca_cn.animate(wav).weights)
        while len(applied) < n and time.time() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
    assert proc.stdout == "" and "look-ahead" in proc.stderr and "latency" in proc.stderr
    assert len(applied) == n and applied[0] == 52
    names = [name for name, _ in values[:52]]
    assert names == [a[0].upper() + a[1:] for a in NAMES] and "JawOpen" in names
    got = np.array([v for _, v in values], np.float32).reshape(n, 52)
    # one receiving thread (a thread per datagram appended them out of order under load)
    np.testing.assert_allclose(got, voca_cn.animate(wav).weights, atol=1e-5)


def test_stream_json_lines_and_ctrl_c_ends_cleanly(tmp_path):
    long_wav = speak("Please bring your own food to the meeting on Friday. " * 6, tmp_path / "long.wav")
    proc = subprocess.Popen([sys.executable, "-m", "voca_cn", "stream", "--audio", str(long_wav)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # frames are arriving: the user presses Ctrl-C a moment later
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in err
    lines = [json.loads(line) for line in (first + out).splitlines()]
    assert len(lines) > 30 and [r["frame"] for r in lines] == list(range(len(lines)))
    assert len(lines[0]["weights"]) == 52


def test_a_noisy_stream_is_said_to_be_noisy_once_and_a_clean_one_is_not(tmp_path):
    import soundfile as sf

    from voca_cn.audio import degrade
    from voca_cn.audio.load import load

    wav = speak("Bob bought a map, and Pam may buy my puppy. The weather was calm.", tmp_path / "take.wav")
    y = load(wav)
    sf.write(tmp_path / "noisy.wav", np.clip(degrade.add_noise(
        y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(0)), 5.0), -1, 1), 16000)
    assert "noisy" not in run_cli("stream", "--audio", wav).stderr
    said = [x for x in run_cli("stream", "--audio", tmp_path / "noisy.wav").stderr.splitlines() if "noisy" in x]
    assert len(said) == 1 and "sounds noisy, echoing or band-limited" in said[0], said


def test_stream_bad_input_gets_one_line(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = run_cli("stream", "--audio", bad, check=False)
    assert proc.returncode == 2 and "cannot read audio" in proc.stderr and len(proc.stderr.splitlines()) == 1
    proc = run_cli("stream", "--audio", bad, "--osc", "nowhere", check=False)
    assert proc.returncode == 2 and "HOST:PORT" in proc.stderr and len(proc.stderr.splitlines()) == 1

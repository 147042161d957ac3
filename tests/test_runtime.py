"""The run-time networks: no TensorFlow outside training, same weights as Keras, fast start."""

import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import run_cli, speak


def test_runtime_graphs_match_keras_on_real_speech(tmp_path):
    """The shipped ONNX graphs give the Keras models' outputs within 1e-4 on real speech, and
    converting the Keras checkpoints again reproduces them."""
    import keras

    from voca_cn.audio import load as audio
    from voca_cn.motion import onnx as runtime
    from voca_cn.motion.lipsync import AudioAnimator
    from voca_cn.motion.phonetic import softmax

    y = audio.load(speak("Bob bought a map. Pam may buy my puppy.", tmp_path / "s.wav"))
    animator = AudioAnimator.load()
    stage = animator.stage
    from voca_cn.audio.features import log_mel

    x = stage.normalise(log_mel(y))
    keras_phonetic = keras.saving.load_model(runtime.MODELS / "phonetic.keras", compile=False)
    expected = keras_phonetic.predict(x[None], verbose=0)[0]
    got, _ = stage.net(x[None], stage.net.zero_state(1))
    assert np.abs(got[0] - expected).max() < 1e-4
    probs = np.asarray(softmax(expected))
    keras_lipsync = keras.saving.load_model(runtime.MODELS / "lipsync.keras", compile=False)
    p60 = np.asarray(__import__("voca_cn.core.timing", fromlist=["x"]).resample_frames(probs, 100, 60))
    expected = keras_lipsync.predict(p60[None], verbose=0)[0]
    got, _ = animator.net.net(p60[None], animator.net.net.zero_state(1))
    assert np.abs(got[0] - expected).max() < 1e-4
    # the converter reproduces the shipped graphs from the checkpoints
    for name in ("phonetic", "lipsync"):
        (tmp_path / "m").mkdir(exist_ok=True)
        for ext in ("keras", "json"):
            (tmp_path / "m" / f"{name}.{ext}").write_bytes((runtime.MODELS / f"{name}.{ext}").read_bytes())
    out = subprocess.run([sys.executable, "-m", "voca_cn.training.to_onnx", "convert", tmp_path / "m"],
                         capture_output=True, text=True, check=True)
    assert len(out.stdout.split()) == 2
    again = runtime.load(tmp_path / "m", "lipsync")
    np.testing.assert_allclose(again(p60[None], again.zero_state(1))[0], got, atol=1e-6)


def test_animate_loads_no_tensorflow_and_prints_nothing_on_stderr(tmp_path, speech):
    wav, _ = speech
    code = ("import sys, voca_cn; a = voca_cn.animate(sys.argv[1]); "
            "print(a.weights.shape, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(wav)], capture_output=True, text=True, check=True)
    assert proc.stdout.split()[-2:] == ["False", "False"]
    proc = run_cli("animate", "--audio", wav, "--out", tmp_path / "o", "--no-video", "--no-obj")
    assert proc.stderr == "" and proc.stdout.strip() == str(tmp_path / "o")


def test_api_animation_is_what_the_command_line_writes(tmp_path, speech):
    import soundfile as sf

    import voca_cn
    from voca_cn.core.arkit import NAMES

    wav, _ = speech
    samples, sr = sf.read(wav, dtype="float32")
    a = voca_cn.animate(samples, sr=sr)
    assert a.weights.shape == (int(np.ceil(len(samples) / sr * 60 - 1e-9)), 52) and a.fps == 60
    azure = a.visemes("azure")
    assert azure[0]["audio_offset_ms"] == 0 and "mouthCues" in a.visemes("rhubarb")
    # "Bob": its first b (speech starts 10 ms into this file; the burst lasts two 10 ms frames) gives a
    # p/b/m viseme (Azure 21) in the first 100 ms, not only the b that ends the word
    assert any(e["viseme_id"] == 21 and e["audio_offset_ms"] < 100 for e in azure)
    assert a.vertices("makehuman").shape == (len(a.weights), 4660, 3)
    run_cli("animate", "--audio", wav, "--out", tmp_path / "cli", "--no-video", "--no-obj")
    z = np.load(tmp_path / "cli" / "animation.npz")
    np.testing.assert_allclose(z["weights"], voca_cn.animate(wav).weights, atol=1e-6)
    assert tuple(z["names"]) == NAMES
    out = a.save(tmp_path / "api", video=False, obj=False)
    assert sorted(p.name for p in out.iterdir()) == ["animation.npz", "visemes.json"]
    with pytest.raises(voca_cn.VocaError, match="sample rate"):
        voca_cn.animate(samples)
    with pytest.raises(voca_cn.VocaError, match="silent"):
        voca_cn.animate(np.zeros(16000, np.float32), sr=16000)


def test_start_up_is_fast():
    """--version imports no numerical stack; the CLI's imports stay light."""
    t0 = time.perf_counter()
    proc = run_cli("--version")
    assert proc.stdout.startswith("voca-cn ") and time.perf_counter() - t0 < 2.0
    code = "import sys, voca_cn.apps.cli; print(sorted(m for m in ('numpy', 'onnxruntime', 'tensorflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_job_given_one_core_stays_on_it(tmp_path, speech):
    """Under `taskset -c 0` a minute of speech uses one core's time, not the machine's: ONNX Runtime's
    threads, left to themselves, pin one to every core of the machine."""
    import os

    import soundfile as sf

    samples, sr = sf.read(speech[0], dtype="float32")
    sf.write(tmp_path / "minute.wav", np.tile(samples, int(np.ceil(60 * sr / len(samples)))), sr)
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "voca_cn", "animate", "--audio", str(tmp_path / "minute.wav"),
           "--out", str(tmp_path / "o"), "--no-video", "--no-obj"]
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    assert status == 0
    assert usage.ru_utime + usage.ru_stime < 1.1 * wall + 0.15

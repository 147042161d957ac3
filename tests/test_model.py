"""The audio-only model: it learns, it ships, it animates a head from speech alone."""

import json

import numpy as np
from conftest import mouth_crop, mouth_interior, run_cli, speak

from voca_cn.audio import load as audio
from voca_cn.core.timing import n_frames
from voca_cn.formats import resolve
from voca_cn.speech.align import Aligner


def test_tiny_model_learns_on_a_tiny_corpus(small_corpus, tmp_path):
    corpus, _ = small_corpus
    run_cli("train", "--config", "small", "--data", corpus, "--out", tmp_path / "m")
    state = json.loads((tmp_path / "m" / "state.json").read_text())
    assert state["lipsync_history"][-1]["val_loss"] < 0.75 * state["lipsync_constant_val_loss"]
    assert state["phonetic_history"][-1]["val_loss"] < state["phonetic_history"][0]["val_loss"]
    # the trained folder drives the command line, and a rerun resumes instead of starting over
    out = run_cli("features", speak("Hello there.", tmp_path / "h.wav"), "--model", tmp_path / "m").stdout
    assert out.splitlines()[0].startswith("time\tbest") and len(out.splitlines()) > 50
    again = run_cli("train", "--config", "small", "--data", corpus, "--out", tmp_path / "m")
    assert "resuming after epoch" in again.stderr


def test_a_config_changes_only_what_it_names_of_its_base(tmp_path):
    from voca_cn.training.train import load_config

    (tmp_path / "next.json").write_text(json.dumps({"base": "small", "seed": 7, "lipsync": {"epochs": 1}}))
    small, changed = load_config("small"), load_config(str(tmp_path / "next.json"))
    assert changed["seed"] == 7 and changed["lipsync"] == {**small["lipsync"], "epochs": 1}
    rest = lambda c: {k: v for k, v in c.items() if k not in ("seed", "lipsync")}  # noqa: E731
    assert rest(changed) == rest(small)
    # the shipped robust model's last round: the robust network, trained on from the round before it
    last, robust = load_config("robust-warm6"), load_config("robust")
    assert (last["init"], last["seed"], last["phonetic"]["width"]) == ("robust-warm5", 6, robust["phonetic"]["width"])


def test_shipped_model_closes_the_lips_on_p_from_audio_alone(tmp_path, speech):
    """No transcript: in the rendered preview the mouth shuts during each spoken "p"."""
    from voca_cn.render import render_frames

    wav, text = speech
    run_cli("animate", "--audio", wav, "--out", tmp_path / "out", "--no-obj")
    z = np.load(tmp_path / "out" / "animation.npz")
    y = audio.load(wav)
    assert len(z["weights"]) == n_frames(len(y))
    phones, _ = Aligner().align(y, text)  # only to know when the p's are
    t = resolve("makehuman")
    gaps = t.inner_lip_gap(t.deform(z["weights"])) * 1000
    closed = []
    for p in (p for p in phones if p.label == "p"):
        frames = range(int(p.start * 60), int(np.ceil(p.end * 60)) + 1)
        best = min(frames, key=lambda f: gaps[min(f, len(gaps) - 1)])
        closed.append(mouth_interior(mouth_crop(t, render_frames(t, z["weights"][[best]])[0])) < 0.01)
    assert len(closed) >= 3 and np.mean(closed) >= 0.75
    assert gaps.max() > 5  # and it does open the mouth for the vowels


def test_long_audio_is_run_in_pieces_without_seams():
    """Offline inference runs long input a piece at a time with the networks' state carried: the
    same frames as one pass, for the robust phonetic stage too, whose GRU remembers seconds back
    (pieces that re-read 3 s from zero state differed by up to 1.4 in a logit)."""
    from voca_cn.motion import onnx as runtime

    rng = np.random.default_rng(0)
    for name in ("phonetic", "lipsync"):
        net = runtime.load("robust", name)
        width = net.session.get_inputs()[0].shape[-1]
        if name == "phonetic":  # normalised log-mel: a slowly drifting random walk, like speech's
            x = np.cumsum(rng.normal(0, 0.3, (5000, width)), 0).astype(np.float32) % 4 - 2
        else:
            x = rng.dirichlet(np.ones(width), 5000).astype(np.float32)
        whole = net.offline(x, chunk=100_000)
        assert np.abs(whole - net.offline(x, chunk=700)).max() < 1e-4


def test_audio_only_bad_input_gets_one_line_and_leaves_nothing(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = run_cli("animate", "--audio", bad, "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "cannot read audio" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()

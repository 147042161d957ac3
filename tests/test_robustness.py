"""Real recordings: quiet, offset, noisy takes and their transcripts. Checks a user would make."""

import re

import numpy as np
import pytest
import soundfile as sf

from conftest import GRID, robust_model_reading, run_cli, speak
from voca_cn import VocaError
from voca_cn.audio import degrade
from voca_cn.audio.load import load


@pytest.fixture(scope="module")
def grid_clip():
    """A real grid-s1 take (its soundtrack) and its words."""
    clip = GRID / "clips" / "bwbn2n.mp4"
    if not clip.is_file():
        pytest.skip(f"grid-s1 not found at {GRID} (../shared is absent)")
    return load(clip), "bin white by n two now"


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_quiet_and_offset_recordings_move_the_jaw_as_the_normal_one(grid_clip):
    import voca_cn
    from voca_cn.core.arkit import INDEX

    y, _ = grid_clip
    jaw = lambda s: voca_cn.animate(s, sr=16000).weights[:, INDEX["jawOpen"]]  # noqa: E731
    normal = jaw(y)
    assert _r(jaw(degrade.to_peak(y, -30.0)), normal) > 0.85  # a take recorded 30 dB too low (0.76 unlevelled)
    assert _r(jaw(np.clip(y * 0.7 + 0.25, -1, 1)), normal) > 0.95  # a DC offset of a quarter of full scale


def test_noisy_take_moves_the_lips_as_the_clean_take_does(grid_clip):
    """By default the robust model takes over where the audio is degraded, and the clean model
    keeps clean speech (README "Real recordings")."""
    import voca_cn
    from voca_cn.core.arkit import INDEX

    y, _ = grid_clip
    jaw = lambda s, model=None: voca_cn.animate(s, sr=16000, model=model).weights[:, INDEX["jawOpen"]]  # noqa: E731
    reference = jaw(y, "clean")
    assert _r(jaw(y), reference) > 0.9  # clean speech: the default is (nearly) the clean model
    for noise in (degrade.colored_noise(len(y), 0.0, np.random.default_rng(2)),  # white noise
                  degrade.music(len(y), np.random.default_rng(3))):
        noisy = np.clip(degrade.add_noise(y, noise, 5.0), -1, 1)
        default, clean_only = _r(jaw(noisy), reference), _r(jaw(noisy, "clean"), reference)
        assert default > clean_only + 0.05, (default, clean_only)  # measured: 0.77 vs 0.47, 0.80 vs 0.71


def test_noisy_take_with_its_transcript_is_animated_and_the_confidence_said(grid_clip, tmp_path):
    y, words = grid_clip
    noisy = degrade.add_noise(y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(1)), 5.0)
    wav = tmp_path / "noisy.wav"
    sf.write(wav, np.clip(noisy, -1, 1), 16000)
    proc = run_cli("animate", "--audio", wav, "--text", words, "--no-video", "--no-obj", "--out", tmp_path / "out")
    # which aligner's timing was kept, and how well the transcript fits, in one line
    assert re.search(r"alignment by (pocketsphinx|the phonetic stage \(pocketsphinx.*\)), confidence 0\.\d\d", proc.stderr)
    assert (tmp_path / "out" / "animation.npz").is_file()
    # the words land where the clean take's alignment puts them (within 100 ms at the median)
    from voca_cn.motion.transcript import align
    from voca_cn.speech.align import Aligner, boundary_differences

    clean = Aligner().align(y, words)[0]
    assert np.median(boundary_differences(clean, align(noisy, words, "en").phones)) < 0.1


def test_noisy_take_with_its_transcript_still_closes_the_lips_on_its_bilabials(tmp_path):
    """With the transcript the lips still meet on its p, b and m in noise that hides most of them
    from the audio alone."""
    import voca_cn
    from voca_cn.formats import resolve

    text = "Bob bought a map, and Pam may buy my puppy."
    y = load(speak(text, tmp_path / "take.wav"))
    spans = [(int(p.start * 60), int(np.ceil(p.end * 60))) for p in voca_cn.animate(y, 16000, text=text).phones
             if p.label in ("p", "b", "m")]
    noisy = np.clip(degrade.add_noise(y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(0)), 0.0), -1, 1)
    head = resolve("makehuman")

    def closed(transcript: str | None) -> float:
        gap = head.inner_lip_gap(head.deform(voca_cn.animate(noisy, 16000, text=transcript, living="off").weights))
        return float(np.mean([gap[a:max(b, a + 1)].min() <= 0.001 for a, b in spans]))

    assert len(spans) >= 10
    with_text, audio_alone = closed(text), closed(None)  # measured: 1.00 vs 0.33 (white noise, 0 dB SNR)
    assert with_text >= 0.9 and with_text > audio_alone + 0.25, (with_text, audio_alone)


def _take_in_white_noise(text: str, snr_db: float, tmp_path):
    """espeak-ng saying ``text`` (take.wav) and the same take in white noise at ``snr_db`` (noisy.wav)."""
    wav = speak(text, tmp_path / "take.wav")
    y = load(wav)
    sf.write(tmp_path / "noisy.wav", np.clip(degrade.add_noise(
        y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(0)), snr_db), -1, 1), 16000)
    return wav


def test_a_noisy_take_is_said_to_be_noisy_and_a_clean_one_is_not(tmp_path):
    """Without a transcript, a take that sounds degraded gets one line on stderr naming what helps;
    a clean take gets none, and with its transcript the alignment's line is said instead."""
    text = "Bob bought a map, and Pam may buy my puppy."
    wav = _take_in_white_noise(text, 5.0, tmp_path)
    args = ("--no-video", "--no-obj", "--out")
    assert run_cli("animate", "--audio", wav, *args, tmp_path / "clean").stderr == ""
    said = run_cli("animate", "--audio", tmp_path / "noisy.wav", *args, tmp_path / "noisy").stderr
    assert len(said.splitlines()) == 1 and "sounds noisy, echoing or band-limited" in said and "--text" in said, said
    said = run_cli("animate", "--audio", tmp_path / "noisy.wav", "--text", text, *args, tmp_path / "text").stderr
    assert "alignment by" in said and "noisy" not in said


def test_another_sentence_is_refused_on_a_clean_take_and_its_own_is_never_refused_in_noise(tmp_path):
    """The wrong file's transcript on a clean take: one line naming the problem, exit 2, nothing
    written. The right transcript on the same take buried in noise is animated; in that noise a
    wrong one is only warned about (a matching one scores as low there)."""
    text = "Bob bought a map, and Pam may buy my puppy."
    other = "The weather was cold and grey all through the winter."
    wav = _take_in_white_noise(text, 0.0, tmp_path)
    args = ("--no-video", "--no-obj", "--out")
    wrong = run_cli("animate", "--audio", wav, "--text", other, *args, tmp_path / "wrong", check=False)
    assert wrong.returncode == 2 and "does not match the audio" in wrong.stderr, wrong.stderr
    assert wrong.stderr.count("\n") == 1 and not (tmp_path / "wrong").exists()
    right = run_cli("animate", "--audio", tmp_path / "noisy.wav", "--text", text, *args, tmp_path / "right")
    assert (tmp_path / "right" / "animation.npz").is_file() and "alignment by" in right.stderr
    noisy_wrong = run_cli("animate", "--audio", tmp_path / "noisy.wav", "--text", other, *args, tmp_path / "nw")
    assert "does not match" not in noisy_wrong.stderr and (tmp_path / "nw" / "animation.npz").is_file()


def test_another_sentence_of_the_same_grammar_is_refused_and_a_slip_of_one_word_is_not(grid_clip, tmp_path):
    """GRID's sentences share one grammar, and a take is half pauses, which fit any transcript: the
    wrong sentence is judged on the take's speech, where nothing of it fits."""
    y, words = grid_clip
    wav = tmp_path / "take.wav"
    sf.write(wav, y, 16000)
    args = ("--no-video", "--no-obj", "--out")
    wrong = run_cli("animate", "--audio", wav, "--text", "set blue at f four please", *args, tmp_path / "wrong",
                    check=False)
    assert wrong.returncode == 2 and "does not match the audio" in wrong.stderr, wrong.stderr
    assert wrong.stderr.count("\n") == 1 and not (tmp_path / "wrong").exists()
    slip = run_cli("animate", "--audio", wav, "--text", words.replace("now", "soon"), *args, tmp_path / "slip")
    assert (tmp_path / "slip" / "animation.npz").is_file(), slip.stderr


def test_a_transcript_pulls_hard_only_where_the_audio_is_bad(grid_clip):
    """On a clean take the model hears the words right and the transcript barely steers it; in
    noise the two stages disagree and the transcript takes a large share (lipsync.Guide)."""
    from voca_cn.motion.lipsync import GUIDE, AudioAnimator

    y, _ = grid_clip
    animator = AudioAnimator.load()
    pull = lambda s: float(GUIDE.shares(animator.stages(s)[2], 1).mean())  # noqa: E731
    noisy = np.clip(degrade.add_noise(y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(2)), 5.0), -1, 1)
    clean, white = pull(y), pull(noisy)  # measured: 0.02 and 0.55
    assert clean < 0.15 and white > 0.4, (clean, white)


def test_a_transcript_of_other_words_is_called_out(grid_clip, tmp_path):
    y, words = grid_clip
    wav = tmp_path / "take.wav"
    sf.write(wav, y, 16000)
    right = run_cli("align", "--audio", wav, "--text", words).stderr
    wrong = run_cli("align", "--audio", wav, "--text", "the quick brown fox jumps over the lazy dog", check=False)
    assert "low confidence" not in right
    assert "alignment by pocketsphinx" in right  # a clean English take keeps pocketsphinx's timing
    # another sentence: 0.07 over the whole take, 0.002 over its speech: the one-line error
    assert wrong.returncode == 2 and "does not match" in wrong.stderr and wrong.stderr.count("\n") == 1, wrong.stderr
    tiny = run_cli("animate", "--audio", wav, "--text", "word " * 60, "--no-video", "--out", tmp_path / "out",
                   check=False)
    assert tiny.returncode == 2 and tiny.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_degraded_copies_stay_aligned_with_the_speech(grid_clip):
    """Training's and the benchmark's conditions keep the timing (their lip curves stay the targets)."""
    from voca_cn.training.augment import Sources, degrade_randomly

    y, _ = grid_clip
    env = lambda s: np.abs(s[: len(y) // 160 * 160]).reshape(-1, 160).mean(1)  # noqa: E731
    sources = Sources([y], rooms=2)
    for k in range(6):
        z = degrade_randomly(y, np.random.default_rng(k), sources)
        assert z.shape == y.shape and np.isfinite(z).all()
        lag = np.argmax(np.correlate(env(z) - env(z).mean(), env(y) - env(y).mean(), "full")) - (len(env(y)) - 1)
        assert abs(lag) <= 1  # 10 ms blocks
    for name, rate in (("mp3", 16), ("aac", 24), ("opus", 12)):
        z = degrade.codec(y, name, rate)
        assert z.shape == y.shape and _r(env(z), env(y)) > 0.9, name


def test_unknown_codec_is_one_line():
    with pytest.raises(VocaError, match="unknown codec"):
        degrade.codec(np.zeros(1600, np.float32), "wma", 32)


def test_the_robust_model_keeps_the_jaw_on_a_noisy_take(grid_clip, tmp_path):
    """``--model robust``: on a take with white noise at 5 dB SNR its jaw follows what the clean model
    gives on the clean take far better than the clean model does on the noisy one."""
    import voca_cn
    from voca_cn.core.arkit import INDEX

    y, _ = grid_clip
    jaw = lambda s, m=None: voca_cn.animate(s, sr=16000, model=m, living="off").weights[:, INDEX["jawOpen"]]  # noqa: E731
    clean = jaw(y, "clean")
    noisy = degrade.add_noise(y, degrade.colored_noise(len(y), 0.0, np.random.default_rng(1)), 5.0)
    robust, shipped = _r(jaw(noisy, "robust"), clean), _r(jaw(noisy, "clean"), clean)
    assert robust > 0.65 and robust > shipped + 0.1  # measured 0.75 vs 0.49
    wav = tmp_path / "noisy.wav"
    sf.write(wav, np.clip(noisy, -1, 1), 16000)
    run_cli("animate", "--audio", wav, "--model", "robust", "--no-video", "--no-obj", "--out", tmp_path / "out")
    assert (tmp_path / "out" / "animation.npz").is_file()


def test_a_steady_hiss_leaves_the_noise_floor_features_and_a_voice_keeps_its_level():
    """The noise-floor front end (a model may be trained with it): hiss under a held vowel loses most of itself in the
    features, the vowel's harmonics keep their level, and a stream cut anywhere gets the same frames."""
    from voca_cn.audio.features import NoiseFloor, levelled_log_mel

    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    vowel = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)) * ((t > 1.5) & (t < 2.5))
    y = (0.2 * vowel + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    mel = levelled_log_mel(y)
    out = NoiseFloor()(mel)
    hiss = slice(50, 140)  # 0.5-1.4 s: hiss alone
    assert np.mean(mel[hiss] - out[hiss]) > 0.8  # > 3.5 dB of the hiss gone (measured 4.4 dB)
    voice = slice(170, 240)
    low = slice(2, 12)  # the bands the harmonics fill (150-1050 Hz)
    assert np.abs(np.mean(mel[voice, low] - out[voice, low])) < 0.12  # < 0.5 dB
    floor = NoiseFloor()
    pieces = np.concatenate([floor(mel[a:b]) for a, b in ((0, 1), (1, 77), (77, 78), (78, 300))])
    np.testing.assert_allclose(pieces, out, atol=1e-4)


def test_a_long_recording_read_in_chunks_gets_the_noise_floor_of_one_pass(monkeypatch, tmp_path):
    """Past two hours the phonetic stage makes its features chunk by chunk; a model with the
    noise-floor front end must hear the recording as if it were read in one piece."""
    from voca_cn.motion import phonetic

    rng = np.random.default_rng(1)
    y = np.clip(0.05 * rng.standard_normal(16000 * 70), -1, 1).astype(np.float32)
    y[16000 * 20:16000 * 40] += np.sin(np.arange(16000 * 20) * 0.2).astype(np.float32) * 0.3
    stage = phonetic.PhoneticStage.load(robust_model_reading("noise-floor", tmp_path))
    whole = stage(y)
    monkeypatch.setattr(phonetic, "ONE_PASS", 1000)  # 10 s: these 70 s are now "long" (3 chunks of 30 s)
    chunked = stage(y)
    assert np.abs(chunked - whole).max() < 1e-4


def test_a_model_wanting_an_unknown_front_end_is_one_line(tmp_path):
    from voca_cn.motion.phonetic import PhoneticStage

    with pytest.raises(VocaError, match="wants the front end 'pcen'.*update voca_cn"):
        PhoneticStage.load(robust_model_reading("pcen", tmp_path))

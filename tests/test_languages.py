"""Transcripts in Mandarin and other languages: checks a user would make."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli

from voca_cn import VocaError
from voca_cn.core.timing import SR
from voca_cn.formats import resolve
from voca_cn.speech import g2p
from voca_cn.speech.align import boundary_differences
from voca_cn.speech.tts import Voice, synthesize
from voca_cn.training.corpus import pinyin

MANDARIN = "你好，欢迎使用这个系统。爸爸买了一本书，妈妈不怕麻烦。"
GERMAN = "Guten Morgen, wie geht es dir? Bitte bring mir ein Bier und ein Butterbrot."


def _speak(voice: str, language: str, text: str, path):
    """espeak-ng speech with the engine's own phone timings, written to ``path`` (16 kHz WAV)."""
    y, phones = synthesize(Voice("espeak-ng", voice, language, voice), text)
    sf.write(path, y, SR)
    return path, phones


@pytest.fixture(scope="module")
def mandarin(tmp_path_factory):
    # espeak-ng reads characters' tone digits as English numbers: it speaks tone-numbered pinyin
    return _speak("cmn-latn-pinyin", "cmn", pinyin(MANDARIN), tmp_path_factory.mktemp("zh") / "zh.wav")


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    return _speak("de", "de", GERMAN, tmp_path_factory.mktemp("de") / "de.wav")


def _aligned(wav, text, *flags):
    out = run_cli("align", "--audio", wav, "--text", text, "--format", "json", *flags)
    return [p for p in json.loads(out.stdout)], out.stderr


def _within(truth, phones, seconds):
    from voca_cn.core.timing import Segment

    d = boundary_differences(truth, [Segment(p["phone"], p["start"], p["end"]) for p in phones])
    return (d <= seconds).mean(), len(d)


def test_mandarin_text_to_phones_as_spoken():
    words = dict(g2p.words("银行行走，重要重新"))
    assert words["银"] == ("i", "n") and words["走"] == ("ts", "oʊ")
    assert [p for w, p in g2p.words("银行")][1] == ("x", "ɑ", "ŋ")  # háng in 银行
    assert [p for w, p in g2p.words("行走")][0] == ("ɕ", "i", "ŋ")  # xíng in 行走
    assert [p for w, p in g2p.words("重要")][0][0] == "tʂ" and [p for w, p in g2p.words("重新")][0][0] == "tʂ"
    # erhua merges into the syllable before; 女儿 keeps its own syllable
    assert [w for w, _ in g2p.words("一点儿")] == ["一", "点儿"]
    assert [p for w, p in g2p.words("一点儿")][1] == ("t", "j", "ɛ", "ɚ")
    assert [w for w, _ in g2p.words("女儿")] == ["女", "儿"]
    # traditional characters, tone marks, tone numbers, English words mixed in
    def phones(text):
        return [p for _, p in g2p.words(text)]

    assert phones("這個系統") == phones("这个系统") == phones("zhège xìtǒng") == phones("zhe4 ge4 xi4 tong3")
    assert dict(g2p.words("我用email发给你"))["email"] == ("i", "m", "eɪ", "l")


def test_language_is_detected_or_refused():
    assert g2p.resolve("auto", "你好") == "cmn" and g2p.resolve("auto", "nǐ hǎo") == "cmn"
    assert g2p.resolve("auto", "Bob bought a map.") == "en" and g2p.resolve("zh", "ni hao") == "cmn"
    with pytest.raises(VocaError, match="reads as de.*--language de"):
        g2p.resolve("auto", GERMAN)
    with pytest.raises(VocaError, match="language 'klingonish' is unknown"):
        g2p.resolve("klingonish", "hello")


def test_animate_mandarin_characters_closes_lips_on_bilabials(tmp_path, mandarin):
    wav, truth = mandarin
    run_cli("animate", "--audio", wav, "--text", MANDARIN, "--out", tmp_path / "out", "--no-obj", "--no-video")
    with np.load(tmp_path / "out" / "animation.npz") as f:
        weights = f["weights"]
    t = resolve("makehuman")
    gap = t.inner_lip_gap(t.deform(weights))
    spans = [(int(p.start * 60), int(np.ceil(p.end * 60))) for p in truth if p.label in ("p", "b", "m")]
    assert len(spans) >= 8
    closed = [gap[a:max(b, a + 1)].min() <= 0.001 for a, b in spans]
    assert np.mean(closed) >= 0.95, closed
    visemes = json.loads((tmp_path / "out" / "visemes.json").read_text())
    assert sum(e["viseme_id"] == 21 for e in visemes) >= 6


def test_pinyin_transcript_aligns_like_characters(mandarin):
    wav, truth = mandarin
    marks = "nǐ hǎo, huānyíng shǐyòng zhège xìtǒng. bàba mǎi le yì běn shū, māma bú pà máfan."
    phones, _ = _aligned(wav, marks)
    share, n = _within(truth, phones, 0.04)
    assert n >= 30 and share >= 0.85
    chars, _ = _aligned(wav, MANDARIN)
    assert [p["phone"] for p in phones] == [p["phone"] for p in chars]


def test_words_are_named_as_written_where_espeak_joins_or_splits_them():
    # espeak-ng speaks "I shall" as one word and "1984" as three: the alignment's words and the
    # low-confidence warning must still name what the user wrote, not IPA
    words = g2p.words("Do you hear? I said, I shall apologize again, in 1984.", "en")
    assert [w for w, _ in words] == ["Do", "you", "hear", "I", "said", "I shall", "apologize", "again", "in", "1984"]
    assert words[-1][1][:3] == ("n", "aɪ", "n")  # nineteen eighty-four, all of it under "1984"


def test_german_aligns_with_german_rules(german):
    wav, truth = german
    phones, _ = _aligned(wav, GERMAN, "--language", "de")
    share, n = _within(truth, phones, 0.04)
    assert n >= 40 and share >= 0.85
    # without --language the German text is refused, not read with English rules
    out = run_cli("align", "--audio", wav, "--text", GERMAN, check=False)
    assert out.returncode == 2 and "reads as de" in out.stderr and "--language de" in out.stderr


def test_wrong_language_transcript_is_an_error(tmp_path, mandarin):
    wav, _ = mandarin
    out = run_cli("animate", "--audio", wav, "--text", GERMAN, "--language", "de", "--out", tmp_path / "out",
                  "--no-obj", "--no-video", check=False)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "does not match the audio" in out.stderr
    assert not (tmp_path / "out").exists()


def test_partly_wrong_transcript_says_low_confidence(mandarin):
    wav, _ = mandarin
    half = "你好，欢迎使用这个系统。今天天气很好，我们去公园散步。"
    phones, stderr = _aligned(wav, half)
    assert phones and "low confidence" in stderr and "worst words" in stderr


def test_batch_manifest_takes_a_language_column(tmp_path, german):
    from voca_cn.apps.manifest import Line, read_lines

    wav, _ = german
    manifest = tmp_path / "lines.csv"
    manifest.write_text(f"id,audio,text,language\nde1,{wav},\"{GERMAN}\",de\nxx1,{wav},hallo,klingonish\n")
    lines, bad = read_lines(manifest, Line(id="", audio=""))
    assert [(ln.id, ln.language) for ln in lines] == [("de1", "de")]
    assert len(bad) == 1 and "klingonish" in bad[0].reason


def test_library_api_takes_the_language(german):
    import voca_cn

    wav, truth = german
    anim = voca_cn.animate(wav, text=GERMAN, language="de")
    assert anim.weights.shape == (int(np.ceil(sf.info(wav).duration * 60)), 52)
    labels = [p.label for p in anim.phones]
    assert labels.count("b") == sum(p.label == "b" for p in truth)  # Bitte, bring, Bier, Butterbrot
    with pytest.raises(VocaError, match="reads as de"):
        voca_cn.animate(wav, text=GERMAN)

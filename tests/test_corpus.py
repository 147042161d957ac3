"""The training corpus and the engines' own phone timings: checks a user would make."""

import json

import numpy as np
import pytest
from conftest import run_cli

from voca_cn.speech.align import Aligner, boundary_differences
from voca_cn.speech.tts import synthesize, voice
from voca_cn.training.corpus import load_item, read_manifest, texts


def test_small_corpus_has_many_voices_and_languages_in_speaker_disjoint_splits(small_corpus):
    out, summary = small_corpus
    assert summary["failures"] == 0 and summary["voices"] >= 12 and len(summary["languages"]) >= 3
    rows = read_manifest(out)
    speakers = {s: {r["speaker"] for r in rows if r["split"] == s} for s in ("train", "val", "test")}
    assert all(speakers.values())
    assert not (speakers["train"] & speakers["val"] or speakers["train"] & speakers["test"]
                or speakers["val"] & speakers["test"])
    for r in rows[:6]:
        item = load_item(out, r["id"])
        assert len(item["audio"]) / 16000 == pytest.approx(r["duration"], abs=1e-3)
        assert len(item["weights"]) == int(np.ceil(r["duration"] * 60 - 1e-9))
        assert item["starts"][0] == 0 and item["ends"][-1] == pytest.approx(r["duration"], abs=1e-3)
        assert np.all(item["starts"][1:] == item["ends"][:-1])  # phones tile the audio


def test_rebuild_resumes_and_is_deterministic(small_corpus, tmp_path):
    out, _ = small_corpus
    again = json.loads(run_cli("data", "build", "--out", out, "--small", "--kathleen", "", "--video", "").stdout)
    assert again["made"] == 0 and again["items"] == len(read_manifest(out))
    first = read_manifest(out)[0]["id"]
    fresh = tmp_path / "c2"
    run_cli("data", "build", "--out", fresh, "--small", "--kathleen", "", "--video", "")
    a, b = load_item(out, first), load_item(fresh, first)
    assert np.array_equal(a["audio"], b["audio"]) and np.array_equal(a["weights"], b["weights"])


@pytest.mark.parametrize("voice_id", ["espeak-ng-en-us", "flite-kal16", "festival-kal_diphone",
                                      "festival-cmu_us_slt_arctic_hts", "piper-joe"])
def test_engine_timings_agree_with_forced_alignment(voice_id):
    """The engine's own phone times vs pocketsphinx on the same audio: median within 20 ms."""
    aligner = Aligner()
    diffs = []
    for text in texts("en", 3, seed=777):
        y, phones = synthesize(voice(voice_id), text)
        diffs.append(boundary_differences(phones, aligner.align(y, text)[0]))
    d = np.concatenate(diffs)
    assert len(d) > 60 and np.median(d) <= 0.020


def test_real_speech_the_utterance_pass_fails_on_still_aligns_word_by_word(kathleen):
    """pocketsphinx's phone pass fails on this Kathleen utterance; the per-word pass recovers it."""
    from voca_cn.audio import load as audio

    path = kathleen / "arctic_a0473_1592704845.flac"
    aligner = Aligner()
    phones, words = aligner.align(audio.load(path), path.with_suffix(".txt").read_text())
    assert aligner.method == "per-word"
    spoken = [w.label for w in words if w.label != "sil"]
    assert len(spoken) == len(path.with_suffix(".txt").read_text().split())
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))

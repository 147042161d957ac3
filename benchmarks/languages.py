"""Transcript alignment per language on held-out synthetic voices and sentences.

    python benchmarks/languages.py [--sentences 10] [--languages cmn,de,...] [--json out.json]

For every language: espeak-ng speaks held-out sentences (Faker's locale, a seed no corpus uses)
in a voice the phonetic stage never trained on, with its own phone timings (voca_cn.speech.tts).
The transcript is aligned the way ``--text`` does it (voca_cn.motion.transcript) and scored
against the engine's timings:
- within20/within40: share of phone starts within 20/40 ms of the engine's (phones matched in
  order by viseme class, silences left out; voca_cn.speech.align.boundary_differences);
- closed: share of the engine's b/p/m during which the procedural animation's inner-lip gap on
  the default head falls below 1 mm; viseme: share of speech frames whose Azure viseme matches;
- confidence: the aligner's (0-1; speech_min: the lowest over the detected speech alone, which a
  matching transcript must stay above not to be refused), and for mismatched transcripts (the next language's sentence
  with its language; another sentence of the same language) whether they got an error, a
  "low confidence" warning or nothing.
Mandarin is scored with transcripts in characters and in tone-marked pinyin (the audio comes
from tone-numbered pinyin: espeak-ng reads characters' tone digits as English numbers), and the
audio-only model is scored on the same audio. English compares pocketsphinx with Viterbi.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voca_cn import VocaError  # noqa: E402
from voca_cn.core.phones import AZURE  # noqa: E402
from voca_cn.core.timing import SR  # noqa: E402
from voca_cn.speech.align import boundary_differences  # noqa: E402
from voca_cn.speech.tts import Voice, synthesize  # noqa: E402

# language -> (held-out espeak-ng voice, Faker locale). Training heard espeak-ng's en, cmn, de,
# es, it and fr voices (other variants, other sentences); ru, pl, nl, cs, el are new to it.
LANGUAGES = {
    "cmn": ("cmn-latn-pinyin+f3", "zh_CN"), "en": ("en-gb-scotland+f2", "en_US"),
    "de": ("de+f2", "de_DE"), "fr": ("fr+m2", "fr_FR"), "es": ("es+m1", "es_ES"), "it": ("it+f2", "it_IT"),
    "ru": ("ru+m1", "ru_RU"), "pl": ("pl+f2", "pl_PL"), "nl": ("nl+m3", "nl_NL"), "cs": ("cs+f3", "cs_CZ"),
    "el": ("el+m2", "el_GR"),
}
# More held-out voices: English in the CMU ARCTIC voices (human recordings behind them, not
# espeak-ng), Mandarin in a second espeak-ng variant (more b/p/m to count)
MORE = {"en": (Voice("flite", "rms", "en", "rms"), Voice("festival", "ked_diphone", "en", "ked")),
        "cmn": (Voice("espeak-ng", "cmn-latn-pinyin+m2", "cmn", "held-out"),)}
SEED = 90210  # no corpus build uses it


def sentences(locale: str, n: int) -> list[str]:
    """``n`` held-out lines in ``locale``: Faker sentences and addresses."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(SEED)
    lines = [fake.sentence(nb_words=9) if k % 3 else fake.address().replace("\n", ", ") for k in range(n)]
    if locale == "zh_CN":  # characters only: Faker's addresses carry Latin letters and numbers
        lines = [re.sub(r"[^\u3400-\u9fff，。、]", "", t) + "。" for t in lines]
    return lines


def spoken(language: str, text: str) -> str:
    """What the engine reads: tone-numbered pinyin for Mandarin, the text otherwise."""
    if language == "cmn":
        from voca_cn.training.corpus import pinyin

        return pinyin(text)
    return text


def marked_pinyin(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    return " ".join(s for s in lazy_pinyin(text, style=Style.TONE, errors="ignore") if s.strip())


def scores(truth, phones, weights, template) -> dict:
    """Boundary agreement, b/p/m closure and viseme agreement of one utterance."""
    from voca_cn.training.evaluation import bilabial_spans

    d = boundary_differences(truth, phones) if phones is not None else np.zeros(0)
    gap = template.inner_lip_gap(template.deform(weights))
    closed = [gap[s].min() <= 0.001 for s in bilabial_spans(truth, len(gap))]
    return {"diffs": d, "n_truth": sum(p.label != "sil" for p in truth), "closed": closed,
            "viseme": _viseme_frames(truth, phones) if phones is not None else None}


def _viseme_frames(truth, phones) -> tuple[int, int]:
    """(matching, total) speech frames at 100/s by Azure viseme."""
    end = truth[-1].end
    t = np.arange(0, end, 0.01)

    def at(segs):
        starts = np.array([s.start for s in segs])
        return np.array([AZURE[segs[i].label] for i in np.searchsorted(starts, t, side="right") - 1])

    a, b = at(truth), at(phones)
    speech = a != 0
    return int((a[speech] == b[speech]).sum()), int(speech.sum())


def run_text(y, text, language, method, animator):
    """(alignment or None, warning/error text) with stderr captured."""
    from voca_cn.motion.transcript import align

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return align(y, text, language, animator, None if method == "default" else method), err.getvalue().strip()
        except VocaError as e:
            return None, f"error: {e}"


def mismatched(y, text, language, animator) -> tuple[str, float | None]:
    """What ``--text`` says for a transcript that is not what ``y`` says (as ``run_text``: the
    aligners and the refusal rule a user gets): (error, warned or silent, the confidence)."""
    result, said = run_text(y, text, language, "default", animator)
    if result is None:
        found = re.search(r"confidence ([0-9.]+)", said)
        return "error", float(found.group(1)) if found else None
    return ("warned" if "low confidence" in said else "silent"), result.confidence


def variants(lang: str) -> dict:
    """name -> (language code, aligner ("default": what --text does) or None for the audio-only model,
    transcript in pinyin)."""
    if lang == "cmn":
        return {"characters": ("cmn", "viterbi", False), "pinyin": ("cmn", "viterbi", True),
                "audio-only": ("cmn", None, False)}
    if lang == "en":
        return {"default": ("en", "default", False), "pocketsphinx": ("en", "pocketsphinx", False),
                "viterbi": ("en", "viterbi", False)}
    return {"viterbi": (lang, "viterbi", False)}


def main() -> None:
    from voca_cn.formats import resolve
    from voca_cn.motion.lipsync import AudioAnimator, best_phones
    from voca_cn.motion.procedural import animate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--languages", default=",".join(LANGUAGES))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    langs = args.languages.split(",")
    template = resolve("makehuman")
    model = AudioAnimator.load()
    texts = {lang: sentences(LANGUAGES[lang][1], args.sentences) for lang in LANGUAGES}
    table = {}
    for li, lang in enumerate(langs):
        voices = [Voice("espeak-ng", LANGUAGES[lang][0], lang, "held-out"), *MORE.get(lang, ())]
        other_lang = langs[(li + 1) % len(langs)] if len(langs) > 1 else lang
        mismatch = {"other-language": [], "other-sentence": []}
        for voice in voices:
            acc = {k: {"diffs": [], "n_truth": 0, "closed": [], "vis": [0, 0], "conf": [], "speech": [], "failed": 0}
                   for k in variants(lang)}
            for k, text in enumerate(texts[lang]):
                try:
                    y, truth = synthesize(voice, spoken(lang, text))
                except VocaError as e:
                    print(f"{lang}: skipped {text[:30]!r}: {e}", file=sys.stderr)
                    continue
                duration = len(y) / SR
                for name, (code, method, as_pinyin) in variants(lang).items():
                    a = acc[name]
                    if method is None:  # the audio-only model
                        w, heard, _ = model.animate(y)
                        phones = best_phones(heard, duration)
                    else:
                        result, note = run_text(y, marked_pinyin(text) if as_pinyin else text, code,
                                                method, model)
                        if result is None:
                            a["failed"] += 1
                            print(f"{lang}/{name}: {note}", file=sys.stderr)
                            continue
                        phones, w = result.phones, animate(result.phones, duration)
                        if result.confidence is not None:
                            a["conf"].append(result.confidence)
                            a["speech"].append(result.speech)
                    s = scores(truth, phones, w, template)
                    a["diffs"].append(s["diffs"])
                    a["n_truth"] += s["n_truth"]
                    a["closed"] += s["closed"]
                    a["vis"] = [a["vis"][0] + s["viseme"][0], a["vis"][1] + s["viseme"][1]]
                mismatch["other-language"].append(mismatched(y, texts[other_lang][k], other_lang, model))
                mismatch["other-sentence"].append(mismatched(y, texts[lang][(k + 1) % len(texts[lang])], lang, model))
            for name, a in acc.items():
                d = np.concatenate(a["diffs"]) if a["diffs"] else np.zeros(0)
                row = {"boundaries": int(len(d)), "engine_phones": a["n_truth"],
                       "within20": float((d <= 0.02).mean()) if len(d) else None,
                       "within40": float((d <= 0.04).mean()) if len(d) else None,
                       "bilabials": len(a["closed"]), "closed": float(np.mean(a["closed"])) if a["closed"] else None,
                       "viseme": a["vis"][0] / max(a["vis"][1], 1), "failed": a["failed"],
                       "confidence_mean": float(np.mean(a["conf"])) if a["conf"] else None,
                       "confidence_min": float(np.min(a["conf"])) if a["conf"] else None,
                       "speech_min": float(np.min(a["speech"])) if a["speech"] else None}
                table.setdefault(lang, {})[f"{voice.id}/{name}"] = row
                print(f"{lang}\t{voice.id}\t{name}\t" + "\t".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        for kind, said in mismatch.items():
            counts = {s: sum(x[0] == s for x in said) for s in ("error", "warned", "silent")}
            confs = [c for _, c in said if c is not None]
            table[lang][kind] = {**counts, "confidence_max": max(confs) if confs else None}
            print(f"{lang}\t{kind} transcript\t{counts}\tmax confidence "
                  f"{max(confs) if confs else float('nan'):.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()

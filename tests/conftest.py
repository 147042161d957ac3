"""Shared fixtures: real speech from espeak-ng, the shared ICT-FaceKit copy, CLI runner."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ICT_TAR = SHARED / "assets" / "ict-facekit" / "FaceXModel.tar.xz"
KATHLEEN = SHARED / "corpora" / "kathleen" / "utterances"
GRID = SHARED / "corpora" / "grid-s1"


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m voca_cn ...`` as a user would; returns the finished process."""
    proc = subprocess.run([sys.executable, "-m", "voca_cn", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"voca-cn {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc


def speak(text: str, path: Path, voice: str = "en-us") -> Path:
    """Real synthetic speech from espeak-ng (22.05 kHz mono WAV)."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


def robust_model_reading(front_end: str, folder: Path) -> Path:
    """``folder`` holding the shipped robust networks, with their phonetic.json naming ``front_end``
    (what a model trained with that front end looks like to the run time)."""
    import json
    import shutil

    from voca_cn.motion.onnx import MODELS

    for f in ("phonetic.onnx", "phonetic.json", "lipsync.onnx", "lipsync.json"):
        shutil.copy(MODELS / "robust" / f, folder / f)
    meta = json.loads((folder / "phonetic.json").read_text())
    (folder / "phonetic.json").write_text(json.dumps({**meta, "front_end": front_end}))
    return folder


def mouth_crop(template, image):
    """The mouth region (around the inner-lip centre) of a rendered 512x512 frame, as ints."""
    from voca_cn.render import project

    x, y = project(template, template.vertices[template.inner_lip[0]].mean(0, keepdims=True), 512, 512)[0].astype(int)
    return image[y - 30:y + 30, x - 50:x + 50].astype(int)


def mouth_interior(crop) -> float:
    """Share of a mouth crop showing the dark inside of an open mouth (the cavity renders near
    black; skin, lips and the shadowed lip line stay brighter than 50 in every channel)."""
    return float((crop.max(-1) < 50).mean())


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> tuple[Path, str]:
    text = "Bob bought a map. Pam may buy my puppy."
    return speak(text, tmp_path_factory.mktemp("speech") / "bob.wav"), text


@pytest.fixture(scope="session")
def ict_dir(tmp_path_factory) -> Path:
    if not ICT_TAR.is_file():
        pytest.skip(f"ICT-FaceKit not found at {ICT_TAR} (../shared is absent)")
    out = tmp_path_factory.mktemp("ict")
    with tarfile.open(ICT_TAR) as tf:
        tf.extractall(out, filter="data")
    return out / "FaceXModel"


@pytest.fixture(scope="session")
def ict_template(ict_dir, tmp_path_factory):
    from voca_cn.formats.ict import import_ict

    return import_ict(ict_dir)


@pytest.fixture(scope="session")
def kathleen() -> Path:
    if not KATHLEEN.is_dir():
        pytest.skip(f"Kathleen corpus not found at {KATHLEEN} (../shared is absent)")
    return KATHLEEN


@pytest.fixture(scope="session")
def grid() -> Path:
    if not (GRID / "clips").is_dir():
        pytest.skip(f"grid-s1 talking-face corpus not found at {GRID} (../shared is absent)")
    return GRID


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> tuple[Path, dict]:
    """A tiny corpus (``data build --small``, synthetic voices only): folder and summary."""
    import json

    out = tmp_path_factory.mktemp("corpus") / "c"
    summary = json.loads(run_cli("data", "build", "--out", out, "--small", "--kathleen", "", "--video", "").stdout)
    return out, summary

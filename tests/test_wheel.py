"""voca_cn is a real package: a built wheel, installed into a fresh virtual environment, runs the
README's quick start from a folder far from the checkout (default head, shipped models, shaders)."""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_installs_elsewhere_and_animates(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist)], check=True, capture_output=True)
    wheel = next(dist.glob("voca_cn-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies come from this interpreter's site-packages as a plain path: its .pth hooks
    # (the checkout's editable install among them) are not run, so only the wheel provides voca_cn.
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    audio = REPO / "data" / "examples" / "hello.wav"
    run = subprocess.run([venv / "bin" / "voca-cn", "animate", "--audio", audio, "--out", "out", "--export", "glb"],
                         cwd=work, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = work / "out"
    assert (out / "preview.mp4").stat().st_size > 10_000
    assert len(list((out / "meshes").glob("*.obj"))) > 100
    assert (out / "animation.glb").is_file()
    where = subprocess.run([venv / "bin" / "python", "-c", "import json, voca_cn.formats.library as l; "
                            "print(json.dumps([l.__file__, l.builtin_names()]))"],
                           cwd=work, capture_output=True, text=True, check=True)
    module, names = json.loads(where.stdout)
    assert str(venv) in module and "makehuman" in names

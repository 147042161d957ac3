"""``voca-cn view DIR``: a local web page that plays ``DIR/animation.glb`` with its audio (three.js).

The page and its script are package data (``assets/viewer``); three.js comes from npm, never from a
copy in the package (see ``three_dir``). The server binds
127.0.0.1 only and serves nothing but the page, three.js, the animation, the audio and a small
``info.json``; audio is served with byte ranges so the page can seek in it.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import sys
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from voca_cn import VocaError
from voca_cn.core.untrusted import confined
from voca_cn.formats import gltf

PAGE_DIR = Path(__file__).resolve().parent.parent / "assets" / "viewer"
THREE_VERSION = "0.187.0"  # as viewer/package.json pins it


def three_dir() -> Path:
    """Where three.js is: ``$VOCA_CN_THREE``, else ``node_modules/three`` in the checkout's
    ``viewer/`` (``bash setup.sh``) or in the current folder (``npm install three``). npm keeps
    three.js (about 1 MB, several files) out of the wheel and up to date."""
    candidates = [Path(os.environ["VOCA_CN_THREE"])] if os.environ.get("VOCA_CN_THREE") else [
        Path(__file__).resolve().parents[2] / "viewer" / "node_modules" / "three",
        Path.cwd() / "node_modules" / "three"]
    for folder in candidates:
        if (folder / "build" / "three.module.js").is_file():
            return folder
    raise VocaError(f"three.js is not installed; run `npm install three@{THREE_VERSION}` in this folder "
                    "(or `bash setup.sh` in a checkout), or set VOCA_CN_THREE to a node_modules/three folder")


def _find_audio(directory: Path, audio: Path | None) -> Path | None:
    if audio is not None:
        if not audio.is_file():
            raise VocaError(f"audio {audio} does not exist; check the path or leave --audio out")
        return audio
    preview = directory / "preview.mp4"
    return preview if preview.is_file() else None


def _info(directory: Path, audio: Path | None) -> dict:
    """What the page needs before loading: whether there is audio, the clip's length, VRM 0.x turn."""
    g = gltf.read(directory / "animation.glb")
    weights, fps = gltf.read_weights(directory / "animation.glb")
    return {"audio": audio is not None, "fps": fps, "duration": len(weights) / fps,
            "vrm0": "VRM" in g.doc.get("extensions", {})}


class _Handler(BaseHTTPRequestHandler):
    """Fixed routes only: /, /main.js, /three/..., /data/animation.glb, /data/audio, /data/info.json."""

    def __init__(self, *args, routes: dict, info: bytes, three: Path, **kw):
        self.routes, self.info, self.three = routes, info, three
        super().__init__(*args, **kw)

    def log_message(self, fmt, *args):  # keep stdout for the URL; requests are noise
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/data/info.json":
            return self._send(self.info, "application/json")
        if path.startswith("/three/"):
            try:
                file = confined(self.three, unquote(path[len("/three/"):]), "a /three/ request")
            except VocaError:  # outside three.js, or a name no file system takes (too long, NUL)
                return self.send_error(404)
        else:
            file = self.routes.get(path)
        try:
            data = file.read_bytes() if file is not None and file.is_file() else None
        except OSError:
            data = None
        if data is None:
            return self.send_error(404)
        ctype = "text/javascript" if file.suffix == ".js" else (
            mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self._send(data, ctype)

    def _send(self, data: bytes, ctype: str):
        """Whole body, or the one byte range asked for (media elements seek with ranges); a range
        that is reversed or starts past the end gets 416 with the size, as RFC 9110 says."""
        span = byte_range(self.headers.get("Range"), len(data))
        if span == "unsatisfiable":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end = span or (0, len(data) - 1)
        self.send_response(206 if span else 200)
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data[start: end + 1])


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """An HTTP ``Range`` header against a body of ``size`` bytes -> (first, last) byte, inclusive;
    None to send the whole body (no header, or one this server does not take: several ranges,
    other units, garbage); 'unsatisfiable' for a range wholly past the end or reversed."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not m or not (m.group(1) or m.group(2)):
        return None
    if not m.group(1):  # suffix range: the last N bytes
        n = int(m.group(2))
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else "unsatisfiable"
    start = int(m.group(1))
    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if start >= size or (m.group(2) and int(m.group(2)) < start):
        return "unsatisfiable"
    return start, end


class _Server(ThreadingHTTPServer):
    """One line on stderr, not a traceback, when a request fails (a browser that hung up mid-file)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        print(f"voca-cn: view: request from {client_address[0]} failed ({type(e).__name__}: "
              f"{str(e)[:120]})", file=sys.stderr)


def make_server(directory: str | Path, port: int = 8000, audio: str | Path | None = None) -> ThreadingHTTPServer:
    """The viewer's server for ``directory`` (an output folder holding animation.glb), bound to
    127.0.0.1:port (0: any free port), not yet serving."""
    directory = Path(directory)
    if not (directory / "animation.glb").is_file():
        raise VocaError(f"{directory} has no animation.glb; write one with `voca-cn animate ... --export glb`")
    three = three_dir()
    audio_path = _find_audio(directory, Path(audio) if audio else None)
    routes = {"/": PAGE_DIR / "index.html", "/main.js": PAGE_DIR / "main.js",
              "/data/animation.glb": directory / "animation.glb", "/data/audio": audio_path}
    info = json.dumps(_info(directory, audio_path)).encode()
    try:
        return _Server(("127.0.0.1", port), partial(_Handler, routes=routes, info=info, three=three))
    except OSError as e:
        raise VocaError(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); pass another --port (0 = any)") from None


def serve(directory: str | Path, port: int = 8000, audio: str | Path | None = None) -> None:
    """Serve the viewer (:func:`make_server`) until interrupted; prints the page's URL on stdout."""
    server = make_server(directory, port, audio)
    print(f"http://127.0.0.1:{server.server_address[1]}/", flush=True)
    print("voca-cn: serving the viewer; Ctrl-C stops it", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()

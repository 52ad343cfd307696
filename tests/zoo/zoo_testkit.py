"""Shared pieces of the zoo and models-CLI tests: a real HTTP server on 127.0.0.1 with handlers
that misbehave on purpose, and small real checkpoints in the published VideoPose3D layout.

Nothing here is a mock: the server is ``http.server`` answering real sockets, and the
checkpoints are real ``TemporalModel`` weights written with ``torch.save``.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pose3d_cli.lifting.model import ArchSpec, TemporalModel
from pose3d_cli.zoo.registry import ModelEntry, entry_from_dict


def videopose3d_checkpoint_bytes(filter_widths=(3, 3), channels: int = 32, joints_in: int = 17,
                                 joints_out: int = 17, seed: int = 0, *, legacy_format: bool = True,
                                 old_numpy: bool = True) -> bytes:
    """A small TemporalModel saved as the paper's ``run.py`` saves it.

    The dict is ``{'epoch', 'lr', 'random_state', 'optimizer', 'model_pos', 'model_traj',
    'random_state_semi'}`` with ``random_state`` the ``numpy.random.RandomState`` object itself.
    By default in the form of the published files: torch's legacy serialisation and numpy 1.16's
    pickling names (``numpy.random.__RandomState_ctor``); ``legacy_format=False`` /
    ``old_numpy=False`` give what ``run.py`` writes with today's torch and numpy.
    """
    from pose3d_cli.lifting.checkpoint import save_videopose3d_checkpoint

    torch.manual_seed(seed)
    arch = ArchSpec(filter_widths=tuple(filter_widths), channels=channels, joints_in=joints_in,
                    joints_out=joints_out)
    model = TemporalModel(arch)
    with tempfile.TemporaryDirectory() as folder:
        path = save_videopose3d_checkpoint(Path(folder) / "checkpoint.bin", model, epoch=80,
                                           lr=1e-3 * 0.95 ** 79, seed=seed,
                                           legacy_format=legacy_format, old_numpy=old_numpy)
        return path.read_bytes()


class CodeCarrier:
    """Pickles as a call to ``open(marker, 'w')``: unpickling it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def code_carrying_checkpoint_bytes(marker: Path) -> bytes:
    """A checkpoint dict whose ``model_pos`` would run code (create ``marker``) when unpickled."""
    buf = io.BytesIO()
    torch.save({"epoch": 1, "lr": 1e-3, "model_pos": CodeCarrier(marker), "model_traj": None}, buf)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_entry(name: str, file_name: str, url: str, *, data: bytes | None = None,
               publish_sha: bool = True, publish_size: bool = True, filter_widths=(3, 3),
               channels: int | None = 32, layout_in: str = "coco17",
               layout_out: str = "h36m17") -> ModelEntry:
    """A published-kind entry pointing at the test server (built through the real validator)."""
    return entry_from_dict(name, {
        "kind": "published", "file_name": file_name, "urls": [url],
        "size": len(data) if (data is not None and publish_size) else None,
        "sha256": sha256(data) if (data is not None and publish_sha) else None,
        "arch": {"filter_widths": list(filter_widths), "channels": channels, "causal": False},
        "layout_in": layout_in, "layout_out": layout_out, "input_source": "detectron",
        "licence": "CC BY-NC 4.0", "licence_url": "https://creativecommons.org/licenses/by-nc/4.0/",
        "origin": "pose3d tests",
    }, "test entry")


@dataclass
class Request:
    mode: str
    file_name: str
    range: str | None


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    slow_s: float = 2.0
    die_fraction: float = 0.4
    throttle_chunk: int = 4096
    throttle_sleep_s: float = 0.05
    trickle_bytes: int = 1
    trickle_sleep_s: float = 0.2
    served_once: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gets(self, file_name: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.file_name == file_name]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes ``/<mode>/<file name>``. Modes:

    ok        serve the file, honouring ``Range`` (206)
    norange   serve the whole file with 200 even when a Range is asked
    wrong     a body of the right length with different bytes
    truncate  announce the full length, send the first half, close (every time)
    die       first request per file: send ``die_fraction`` of it and close; later requests
              behave like ``ok`` (so a resumed download completes)
    slow      wait ``slow_s`` before answering
    throttle  like ``ok`` but sends small chunks with pauses (a download that takes a while)
    flaky     first request per file: HTTP 503; later like ``ok``
    trickle   announce the length, then send ``trickle_bytes`` every ``trickle_sleep_s`` (a
              connection that never times out and never finishes)
    nolength  the whole file with no Content-Length, then close (the end of the body is the close)
    endless   no Content-Length, the file's bytes repeated for ever (until the client hangs up)
    anything else, or an unknown file: 404
    """

    protocol_version = "HTTP/1.1"
    state: ServerState

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        parts = self.path.strip("/").split("/", 1)
        mode, file_name = (parts + [""])[:2]
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append(Request(mode, file_name, rng))
            first = (mode, file_name) not in state.served_once
            state.served_once.add((mode, file_name))
        data = state.files.get(file_name)
        known = ("ok", "norange", "wrong", "truncate", "die", "slow", "throttle", "flaky", "trickle",
                 "nolength", "endless")
        if data is None or mode not in known:
            self._status_only(404, "Not Found")
            return
        if mode == "slow":
            time.sleep(state.slow_s)
        if mode == "flaky" and first:
            self._status_only(503, "Service Unavailable")
            return
        if mode == "wrong":
            data = bytes(b ^ 0x5A for b in data)
        if mode in ("nolength", "endless"):
            self._unannounced(data, endless=mode == "endless")
            return
        start = 0
        if rng and mode in ("ok", "die", "throttle", "flaky", "slow", "trickle") and not (mode == "die" and first):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self._status_only(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        if mode in ("truncate", "die"):
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            if mode == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            elif mode == "die" and first:
                self.wfile.write(body[: int(len(body) * state.die_fraction)])
                self.wfile.flush()
                self.close_connection = True
            elif mode == "throttle":
                for i in range(0, len(body), state.throttle_chunk):
                    self.wfile.write(body[i:i + state.throttle_chunk])
                    self.wfile.flush()
                    time.sleep(state.throttle_sleep_s)
            elif mode == "trickle":
                for i in range(0, len(body), state.trickle_bytes):
                    self.wfile.write(body[i:i + state.trickle_bytes])
                    self.wfile.flush()
                    time.sleep(state.trickle_sleep_s)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _unannounced(self, data: bytes, endless: bool) -> None:
        """A 200 body without Content-Length: its end is the connection's close."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            while True:
                self.wfile.write(data)
                self.wfile.flush()
                if not endless:
                    return
        except (BrokenPipeError, ConnectionResetError):
            return

    def _status_only(self, code: int, reason: str) -> None:
        body = f"{code} {reason}\n".encode()
        self.send_response(code, reason)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class ModelServer:
    """A real HTTP server on 127.0.0.1 (random port) in a background thread."""

    def __init__(self) -> None:
        self.state = ServerState()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def base(self, mode: str) -> str:
        """Mirror base URL for a mode: the file F is at ``base(mode) + '/' + F``."""
        return f"http://127.0.0.1:{self.port}/{mode}"

    def url(self, mode: str, file_name: str) -> str:
        return f"{self.base(mode)}/{file_name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A local port with nothing listening (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

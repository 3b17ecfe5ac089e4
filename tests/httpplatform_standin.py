"""An HttpPlatformHandler stand-in: run a sample the way IIS would, on Linux.

It reads ``system.webServer/httpPlatform`` from a web.config, starts
``processPath`` + ``arguments`` (the Windows ``processPath`` is replaced by
``sys.executable``; the arguments are kept) with ``HTTP_PLATFORM_PORT`` and
the ``<environmentVariables>`` set, once per ``processesPerApplication``, each
on its own port, waits for the ports within ``startupTimeLimit``, and proxies
requests to them round-robin as the module does (reference/iis.md):

* the path is percent-decoded and its dot segments removed, as http.sys does
  before IIS hands it on (``/who%61mi`` arrives as ``/whoami``); characters
  that cannot stand on a request line are escaped again. The query is passed
  as sent;
* ``REMOTE_ADDR:port`` is appended to any client ``X-Forwarded-For``, and the
  scheme to ``X-Forwarded-Proto``; every other client header passes through
  as sent, underscores included; ``Host`` is kept.

What it does not do: Windows authentication tokens, ``recycleOnFileChange``,
restarts after crashes (``rapidFailsPerMinute``), ``requestTimeout``.
"""

from __future__ import annotations

import http.client
import itertools
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote_to_bytes

__all__ = ["HttpPlatformStandIn", "http_sys_path", "read_http_platform"]

# Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's own, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_REQUEST_LINE_SAFE = "/!$&'()*+,;=:@-._~"


def read_http_platform(web_config: Path) -> dict[str, Any]:
    """The httpPlatform attributes and environment variables of a web.config."""
    root = ET.parse(web_config).getroot()
    element = root.find("system.webServer/httpPlatform")
    if element is None:
        raise LookupError(f"{web_config} has no system.webServer/httpPlatform")
    env = {
        e.attrib["name"]: e.attrib.get("value", "")
        for e in element.iterfind("environmentVariables/environmentVariable")
    }
    return {**element.attrib, "environmentVariables": env}


def http_sys_path(raw_path: str) -> str:
    """The path as the child process receives it: decoded, dot segments removed."""
    decoded = unquote_to_bytes(raw_path).decode("utf-8")  # http.sys refuses invalid UTF-8
    segments: list[str] = []
    for segment in decoded.replace("\\", "/").split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    path = "/" + "/".join(segments)
    if decoded.endswith(("/.", "/..")) and not path.endswith("/"):
        path += "/"
    return quote(path, safe=_REQUEST_LINE_SAFE)


def _expand(value: str, env: Mapping[str, str]) -> str:
    # HttpPlatformHandler expands %NAME% from the environment it builds.
    return re.sub(r"%([A-Za-z0-9_]+)%", lambda m: env.get(m.group(1), m.group(0)), value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HttpPlatformStandIn:
    """Start the web.config's child processes and proxy to them; a context manager.

    ``env_overrides`` replace environment variables of the web.config whose
    Windows paths do not exist here (``PYTHONPATH``, ``EDGECLAIMS_CONFIG``);
    ``base_env`` is the environment the children inherit (the app pool's),
    ``os.environ`` by default.
    The child's stdout/stderr go to ``log_dir`` (the ``stdoutLogFile`` name).
    """

    def __init__(
        self,
        web_config: Path,
        *,
        log_dir: Path,
        env_overrides: Mapping[str, str] | None = None,
        base_env: Mapping[str, str] | None = None,
        scheme: str = "http",
    ) -> None:
        self.web_config = web_config
        self.site_root = web_config.parent
        self.settings = read_http_platform(web_config)
        self.log_dir = log_dir
        self.env_overrides = dict(env_overrides or {})
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.scheme = scheme
        self.processes: list[subprocess.Popen[bytes]] = []
        self.backend_ports: list[int] = []
        self.log_files: list[Path] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._next = itertools.count()

    # -- processes ----------------------------------------------------------

    def _command(self, port: int) -> tuple[list[str], dict[str, str]]:
        env = dict(self.base_env)
        env["HTTP_PLATFORM_PORT"] = str(port)
        for name, value in self.settings["environmentVariables"].items():
            env[name] = _expand(value, env)
        env.update(self.env_overrides)
        arguments = _expand(self.settings.get("arguments", ""), env)
        # Windows command-line quoting ("a b" is one argument) reads like POSIX here.
        return [sys.executable, *shlex.split(arguments)], env

    def start(self) -> None:
        count = int(self.settings.get("processesPerApplication", "1"))
        limit = float(self.settings.get("startupTimeLimit", "10"))
        log_name = Path(
            self.settings.get("stdoutLogFile", "httpplatform-stdout").replace("\\", "/")
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            port = _free_port()
            command, env = self._command(port)
            log_path = self.log_dir / f"{log_name.stem}_{index}{log_name.suffix or '.log'}"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    command, cwd=self.site_root, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            self.processes.append(process)
            self.backend_ports.append(port)
            self.log_files.append(log_path)
        for process, port, log_path in zip(self.processes, self.backend_ports, self.log_files):
            self._wait_for(process, port, limit, log_path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _wait_for(
        process: subprocess.Popen[bytes], port: int, limit: float, log_path: Path
    ) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"child exited with {process.returncode}:\n{log_path.read_text(errors='replace')}"
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"child did not listen on {port} within startupTimeLimit:\n"
            f"{log_path.read_text(errors='replace')}"
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_files if p.exists())

    def __enter__(self) -> HttpPlatformStandIn:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- proxying -----------------------------------------------------------

    def backend(self) -> int:
        return self.backend_ports[next(self._next) % len(self.backend_ports)]


def _handler_for(standin: HttpPlatformStandIn) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _proxy(self) -> None:
            raw_path, sep, query = self.path.partition("?")
            try:
                path = http_sys_path(raw_path)
            except UnicodeDecodeError:
                self.send_error(400, "Bad Request - Invalid URL")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers: list[tuple[str, str]] = []
            forwarded_for: list[str] = []
            forwarded_proto: list[str] = []
            for name, value in self.headers.items():
                lowered = name.lower()
                if lowered in _HOP_BY_HOP:
                    continue
                if lowered == "x-forwarded-for":
                    forwarded_for.append(value)
                elif lowered == "x-forwarded-proto":
                    forwarded_proto.append(value)
                else:
                    headers.append((name, value))
            peer_host, peer_port = self.client_address[:2]
            headers.append(
                ("X-Forwarded-For", ", ".join([*forwarded_for, f"{peer_host}:{peer_port}"]))
            )
            headers.append(("X-Forwarded-Proto", ", ".join([*forwarded_proto, standin.scheme])))
            connection = http.client.HTTPConnection("127.0.0.1", standin.backend(), timeout=30)
            try:
                connection.putrequest(
                    self.command, path + sep + query, skip_host=True, skip_accept_encoding=True
                )
                for name, value in headers:
                    connection.putheader(name, value)
                if body and not self.headers.get("Content-Length"):
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body or None)
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

    return Proxy

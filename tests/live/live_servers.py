"""Starting and stopping real servers for the live tests: loopback only, own ports and dirs, bounded waits.

Every process is a child of the test run, started in its own session so it (and any worker it
forks) is ended by its own process-group id; nothing here touches the distribution's services.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tools import require

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports nothing listens on (held together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def require_postgres(binary: str) -> str:
    """A PostgreSQL server binary (Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"), key=lambda p: int(p.split("/")[4]))
    return found[-1] if found else require(binary)


def wait_until(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.25,
               alive: Callable[[], None] | None = None) -> T:
    """Poll `check` until it returns something other than None/False; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if alive:
            alive()
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except (OSError, ValueError, KeyError) as exc:  # connection refused, bad JSON, not there yet
            last_error = exc
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_error})"
                                                                                 if last_error else ""))
        time.sleep(interval)


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get_json(url: str, **params: str | list[str]) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    status, body = http_get(f"{url}?{query}" if query else url)
    if status != 200:
        raise ValueError(f"GET {url}: HTTP {status}: {body[:300]}")
    return json.loads(body)


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"{self.name} exited with code {code}:\n{self.log_tail()}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the server's process group, SIGKILL it if it has not exited within `timeout`."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        else:
            # The leader is gone; its group may still hold workers (nginx, postgres backends).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Servers:
    """The servers of one live test run, stopped in reverse start order."""

    root: Path
    started: list[Server] = field(default_factory=list)

    def start(self, name: str, args: list[str], *, env: dict[str, str] | None = None,
              user: str | None = None, cwd: Path | None = None) -> Server:
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})} if env else None, cwd=cwd or self.root,
                user=user, start_new_session=True,
            )
        server = Server(name, process, log)
        self.started.append(server)
        return server

    def wait_port(self, server: Server, port: int, timeout: float = 30) -> None:
        wait_until(f"{server.name} to listen on {LOOPBACK}:{port}", lambda: port_open(port), timeout,
                   alive=server.check_alive)

    def wait_http(self, server: Server, url: str, timeout: float = 30) -> None:
        wait_until(f"{server.name} to answer {url}", lambda: http_get(url, timeout=2)[0] == 200, timeout,
                   alive=server.check_alive)

    def stop_all(self) -> None:
        for server in reversed(self.started):
            server.stop()


@contextlib.contextmanager
def servers_in_tempdir(prefix: str = "quikapp-live-") -> Iterator[Servers]:
    """A private, world-traversable temp dir (PostgreSQL runs as its own user) and the servers in it."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    servers = Servers(root)
    try:
        yield servers
    finally:
        servers.stop_all()
        shutil.rmtree(root, ignore_errors=True)


# --- the individual servers -------------------------------------------------------------------


def start_redis(servers: Servers, port: int) -> Server:
    data = servers.root / "redis"
    data.mkdir()
    server = servers.start("redis-server", [
        require("redis-server"), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
    ])
    servers.wait_port(server, port)
    return server


def start_postgres(servers: Servers, port: int, user: str = "postgres") -> Server:
    """A throwaway cluster (initdb) listening on loopback TCP and a private socket dir.

    PostgreSQL refuses to run as root: as root it runs as `user` (Debian's postgresql package
    creates `postgres`), otherwise as the current user.
    """
    initdb, postgres = require_postgres("initdb"), require_postgres("postgres")
    base = servers.root / "postgres"
    data, sockets = base / "data", base / "run"
    for path in (base, sockets):
        path.mkdir()
    as_user: str | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(user)
        except KeyError:
            pytest.fail(f"user {user!r} does not exist (Debian's postgresql package creates it)")
        for path in (base, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        as_user = user
    init = subprocess.run(
        [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True, text=True, user=as_user, cwd=base, timeout=120,
    )
    if init.returncode != 0:
        pytest.fail(f"initdb failed: {init.stdout}{init.stderr}")
    server = servers.start("postgres", [
        postgres, "-D", str(data), "-p", str(port), "-k", str(sockets),
        "-c", f"listen_addresses={LOOPBACK}", "-c", "fsync=off",
    ], user=as_user, cwd=base)
    servers.wait_port(server, port)
    return server


def start_nginx(servers: Servers, port: int) -> Server:
    """nginx serving only stub_status on loopback, everything (pid, logs, temp files) in its own dir."""
    prefix = servers.root / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {LOOPBACK}:{port};
        location = /stub_status {{ stub_status; }}
    }}
}}
""")
    nginx = require("nginx")
    server = servers.start("nginx", [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")])
    servers.wait_http(server, f"http://{LOOPBACK}:{port}/stub_status")
    return server


def start_exporter(servers: Servers, name: str, args: list[str], port: int,
                   env: dict[str, str] | None = None) -> Server:
    server = servers.start(name, [require(name), *args], env=env)
    servers.wait_http(server, f"http://{LOOPBACK}:{port}/metrics")
    return server


def start_alertmanager(servers: Servers, config_text: str, port: int) -> Server:
    base = servers.root / "alertmanager"
    (base / "data").mkdir(parents=True)
    config = base / "alertmanager.yml"
    config.write_text(config_text)
    server = servers.start("alertmanager", [
        require("alertmanager"), f"--config.file={config}", f"--storage.path={base / 'data'}",
        f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address=",  # no gossip port
    ], cwd=base)
    servers.wait_http(server, f"http://{LOOPBACK}:{port}/-/ready")
    return server


def start_prometheus(servers: Servers, config: Path, port: int) -> Server:
    data = servers.root / "prometheus-data"
    data.mkdir()
    server = servers.start("prometheus", [
        require("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={data}",
        f"--web.listen-address={LOOPBACK}:{port}", f"--web.external-url=http://{LOOPBACK}:{port}",
    ], cwd=config.parent)
    servers.wait_http(server, f"http://{LOOPBACK}:{port}/-/ready", timeout=60)
    return server

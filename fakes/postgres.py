"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl start`` in a temporary
directory, on a free port, listening on 127.0.0.1 only.

    with TempPostgres() as pg:
        pg.url                      # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.create_database()        # the URL of a fresh, empty database

As root (``initdb`` refuses to run as root) the directory belongs to the ``postgres`` user
and the binaries run through ``runuser -u postgres --``; otherwise they run as the caller.
``stop()`` stops the server and removes the directory. A test process killed before that
leaves its directory behind with its own pid in it: the next ``start()`` on the machine
stops every server whose owning process is gone and removes its directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
DEBIAN_PACKAGE = "postgresql-15"
RUNS_DIR = Path(tempfile.gettempdir()) / "assistant-test-postgres"
OWNER_FILE = "owner.pid"
START_TIMEOUT_S = 30.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, and they could not be installed."""


def find_bin_dir() -> Path | None:
    """Debian's PostgreSQL 15 binaries, else those of ``pg_config --bindir``, else None."""
    if (DEBIAN_BIN / "initdb").is_file():
        return DEBIAN_BIN
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if candidates:
        return candidates[0].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bin_dir = Path(found.stdout.strip())
        if found.returncode == 0 and (bin_dir / "initdb").is_file():
            return bin_dir
    return None


def install_with_apt() -> Path:
    """Install Debian's ``postgresql-15`` (root only); the binaries' directory, or raise."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries not found (looked in {DEBIAN_BIN} and pg_config) and "
            f"cannot be installed without root and apt-get: apt-get install {DEBIAN_PACKAGE}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", DEBIAN_PACKAGE]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise PostgresUnavailable(f"apt-get install {DEBIAN_PACKAGE} failed: {done.stderr}")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(f"{DEBIAN_PACKAGE} installed but no initdb was found")
    return bin_dir


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TempPostgres:
    """One PostgreSQL server of one test session."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        """``bin_dir``: where ``initdb`` and ``pg_ctl`` are (found when not given)."""
        self.bin_dir = bin_dir or find_bin_dir()
        self.as_root = os.geteuid() == 0
        self.port = 0
        self.dir: Path | None = None
        self.started_in_s = 0.0

    @property
    def url(self) -> str:
        """The ``postgres`` database as the ``postgres`` superuser (no password)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        if self.dir is None:
            raise RuntimeError("TempPostgres is not running")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a fresh name unless given); return its URL."""
        import psycopg
        from psycopg import sql

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def add_password_user(self, name: str, password: str) -> None:
        """A login role that must give ``password`` over TCP (everyone else is trusted)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            hba = self.data / "pg_hba.conf"
            rule = f"host all {name} 127.0.0.1/32 scram-sha-256\n"
            hba.write_text(rule + hba.read_text())  # first matching line wins
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the reload is asynchronous
            try:
                wrong = f"postgresql://{name}:not-{password}@127.0.0.1:{self.port}/postgres"
                psycopg.connect(wrong, connect_timeout=2).close()
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    return
            time.sleep(0.05)
        raise RuntimeError("pg_hba.conf was not reloaded")

    def start(self) -> TempPostgres:
        """initdb, start on a free port, wait until it accepts connections over TCP."""
        if self.dir is not None:
            return self
        if self.bin_dir is None:
            raise PostgresUnavailable("PostgreSQL server binaries not found")
        began = time.monotonic()
        clean_abandoned()
        RUNS_DIR.mkdir(mode=0o755, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=RUNS_DIR))
        (self.dir / OWNER_FILE).write_text(str(os.getpid()))
        try:
            if self.as_root:
                shutil.chown(self.dir, "postgres", "postgres")
            self._run(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
            )  # fmt: skip
            for attempt in range(3):
                self.port = free_port()
                try:
                    self._start_server()
                    break
                except subprocess.CalledProcessError:
                    if attempt == 2:  # the port was taken in between, three times: give up
                        raise
            self._wait_for_tcp(began + START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self

    def restart(self) -> None:
        """Stop the server (ending every session) and start it again on the same port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self._start_server()

    def stop(self) -> None:
        """Stop the server (immediately: it is throwaway) and remove its directory."""
        run_dir, self.dir = self.dir, None
        if run_dir is not None:
            _stop_and_remove(run_dir, self.bin_dir)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def postmaster_pid(self) -> int:
        """The server's main process (every backend is its child)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        assert self.dir is not None
        return self.dir / "data"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]  # type: ignore[operator]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def _start_server(self) -> None:
        assert self.dir is not None
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"),
            "-w", "-t", str(int(START_TIMEOUT_S)), "start",
        )  # fmt: skip

    def _wait_for_tcp(self, deadline: float) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _stop_and_remove(run_dir: Path, bin_dir: Path | None) -> None:
    """Stop the server of ``run_dir`` if it runs, then delete the directory."""
    pid_file = run_dir / "data" / "postmaster.pid"
    if pid_file.exists():
        stopped = False
        if bin_dir is not None:
            command = [str(bin_dir / "pg_ctl"), "-D", str(run_dir / "data"), "-m", "immediate"]
            command += ["-w", "stop"]
            if os.geteuid() == 0:
                command = ["runuser", "-u", "postgres", "--", *command]
            stopped = subprocess.run(command, capture_output=True, cwd="/").returncode == 0
        if not stopped:  # no pg_ctl, or it failed: signal the postmaster ourselves
            with contextlib.suppress(ValueError, IndexError, OSError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
    shutil.rmtree(run_dir, ignore_errors=True)


def clean_abandoned() -> list[Path]:
    """Stop and remove the servers left by test processes that are gone (killed)."""
    removed = []
    for run_dir in RUNS_DIR.glob("run-*"):
        try:
            owner = int((run_dir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if not _alive(owner):
            _stop_and_remove(run_dir, find_bin_dir())
            removed.append(run_dir)
    return removed

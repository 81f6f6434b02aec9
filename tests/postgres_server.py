"""A throwaway PostgreSQL server for the tests: `initdb` into a temporary directory, `postgres` on
127.0.0.1 and a free port, stopped (and its directory removed) after.

It needs the server binaries of the Debian `postgresql` package (`make system-deps`); without them
the tests fail with that advice rather than skip. PostgreSQL refuses to run as root: as root (CI)
the server runs as the package's `postgres` user, in a directory that user owns; as anyone else
it runs as that user. The superuser is named after the user running the tests, so libpq's default
user name fits, and password authentication (SCRAM) is on: the store reads the password from its
password file, as in production.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from core.net import free_port

PACKAGE_BIN = Path("/usr/lib/postgresql")
MISSING = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under "
           "/usr/lib/postgresql/*/bin: run `make system-deps` (installs the Debian postgresql package)")


class PostgresUnavailable(RuntimeError):
    pass


def server_bin() -> Path:
    """The directory holding initdb, pg_ctl and postgres: the newest packaged version, else PATH."""
    versions = sorted((p for p in PACKAGE_BIN.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable(MISSING)


class PostgresServer:
    """One cluster. `start()` initialises it on first use; `stop(mode)` takes pg_ctl's modes
    (fast: clean; immediate: no shutdown checkpoint, crash recovery on the next start)."""

    def __init__(self) -> None:
        self.bin = server_bin()
        self.user = getpass.getuser()
        self.password = "adrisk-test-" + os.urandom(6).hex()
        self._as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._as = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and no `postgres` user to run the server as: "
                                          "run `make system-deps` (the Debian postgresql package creates it)") from None
        self.root = Path(tempfile.mkdtemp(prefix="adrisk-pg-"))  # /tmp: reachable by the postgres user
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.password_file = self.root / "client-password"  # what the store reads
        self.password_file.write_text(self.password + "\n")
        if self._as is not None:
            os.chown(self.root, self._as.pw_uid, self._as.pw_gid)
        self._initialised = False

    # ------------------------------------------------------------------ processes
    def _run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        extra = {}
        if self._as is not None:
            extra = {"user": self._as.pw_uid, "group": self._as.pw_gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=timeout, **extra)
        if check and done.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{log}")
        return done

    def _initdb(self) -> None:
        server_pw = self.root / "initdb-password"
        server_pw.write_text(self.password + "\n")
        if self._as is not None:
            os.chown(server_pw, self._as.pw_uid, self._as.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--pwfile", str(server_pw), "--auth-local", "trust",
                  "--auth-host", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        server_pw.unlink()
        self._initialised = True

    def start(self) -> None:
        if not self._initialised:
            self._initdb()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200 -c fsync=on"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        """Stop the server however it is, leave no process, remove its files."""
        try:
            if self._initialised and self.running():
                self.stop("fast")
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        """If a stop did not end it, the postmaster this object started is killed (its backends
        exit when it does)."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    # ------------------------------------------------------------------ databases
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        """Run SQL as the superuser (outside a transaction: CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(database), password=self.password, autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str) -> str:
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

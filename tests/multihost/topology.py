"""The deployment of deploy/ on one machine: every host a network namespace on one bridge.

Each host (HOSTS) is a namespace `slmh-<host>` whose eth0 is one end of a veth pair, the other
end enslaved to the bridge `slmh-br`; the machine's own namespace is the operators' host (OPS,
10.77.0.1 on the bridge): the load driver and the suite's checks run there. All traffic goes
over those 10.77.0.x addresses; no host has a route anywhere else.

Every host's files are rendered from deploy/ (deploy/render.py) into <tmp>/hosts/<host>/etc
with that host's values, and its processes are started from them: the app's processes by
reading their systemd unit (EnvironmentFile, WorkingDirectory, ExecStart, Restart — a unit with
Restart=always is restarted when it dies, as systemd would); HAProxy, PgBouncer, Redis,
Sentinel and PostgreSQL by the command line of Debian's own unit for them, with the rendered
configuration. Differences from a real host: User= is not applied (the app runs as root here;
PostgreSQL and PgBouncer run as postgres, as they must), nor the unit's sandboxing.

`python -m tests.multihost.topology cleanup` removes whatever a run left (namespaces, bridge,
their processes); the make target runs it on exit, Ctrl-C included.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
sys.path.insert(0, DEPLOY)
import render  # noqa: E402  (deploy/render.py, the operators' renderer)

PREFIX = "slmh"
BRIDGE = f"{PREFIX}-br"
NET = "10.77.0"
OPS = f"{NET}.1"
HOSTS = {"lb": 10, "web1": 11, "web2": 12, "wk1": 21, "wk2": 22, "redis1": 31, "redis2": 32,
         "sen1": 35, "sen2": 36, "sen3": 37, "pg1": 41, "pg2": 42, "pgb": 50}
PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORDS = {"sanliang": "mh-sanliang-pw", "replicator": "mh-replicator-pw", "pgbouncer": "mh-pgbouncer-pw",
             "redis": "mh-redis-pw"}


def addr(host: str) -> str:
    return f"{NET}.{HOSTS[host]}"


def run(*argv: str, check: bool = True, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, timeout=timeout, capture_output=True, text=True, **kwargs)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    return done


def ns(host: str) -> str:
    return f"{PREFIX}-{host}"


def ns_pids(host: str) -> list[int]:
    out = run("ip", "netns", "pids", ns(host), check=False).stdout
    return [int(p) for p in out.split()]


def requirements() -> list[str]:
    """What this machine lacks for the suite (empty when it can run)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces)")
    for tool in ("ip", "haproxy", "pgbouncer", "redis-server", "runuser", "psql"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            missing.append(tool)
    if not os.path.exists(f"{PG_BIN}/initdb"):
        missing.append(f"{PG_BIN}/initdb (postgresql-15)")
    return missing


def cleanup() -> None:
    """Kill every process in our namespaces, delete them and the bridge (idempotent)."""
    names = [line.split()[0] for line in run("ip", "netns", "list", check=False).stdout.splitlines() if line]
    ours = [name for name in names if name.startswith(f"{PREFIX}-")]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [pid for name in ours for pid in ns_pids(name.removeprefix(f"{PREFIX}-"))]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while pids and time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
    for name in ours:
        run("ip", "netns", "del", name, check=False)
    for link in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = link.split(":")[1].strip().split("@")[0]
        if name.startswith(f"{PREFIX}-"):
            run("ip", "link", "del", name, check=False)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(check, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll check() until it returns a true value (returned); TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001  (not up yet)
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout} s ({last!r})")


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True


def parse_unit(path: str) -> dict[str, list[str]]:
    """A systemd unit's [Service] settings, each key's values in order."""
    settings: dict[str, list[str]] = {}
    section = None
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            if section == "Service" and "=" in line:
                key, _, value = line.partition("=")
                settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def read_env_file(path: str) -> dict[str, str]:
    """An EnvironmentFile: NAME=value lines, comments, optional quotes (as systemd reads it)."""
    env = {}
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            name, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[name.strip()] = value
    return env


def expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """systemd's ${NAME} (one word) and $NAME (split into words) in ExecStart."""
    out = []
    for word in argv:
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            out += env.get(whole.group(1), "").split()
            continue
        out.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word))
    return out


class Process:
    """One process started in a host's namespace; restarted when it dies if `restart`."""

    def __init__(self, host: "Host", name: str, argv: list[str], env: dict, cwd: str | None, log: str,
                 restart: bool = False, restart_sec: float = 2.0, user: str | None = None):
        self.host, self.name, self.argv, self.env, self.cwd, self.log = host, name, argv, env, cwd, log
        self.restart, self.restart_sec, self.user = restart, restart_sec, user
        self.popen: subprocess.Popen | None = None
        self.stopping = False
        self.restarts = 0
        self.start()
        if restart:
            threading.Thread(target=self._supervise, daemon=True).start()

    def start(self) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(["ip", "netns", "exec", ns(self.host.name), *prefix, *self.argv],
                                          env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)

    def _supervise(self) -> None:
        while not self.stopping:
            if self.popen.poll() is not None and not self.stopping and not self.host.down:
                time.sleep(self.restart_sec)
                if not self.stopping and not self.host.down:
                    self.restarts += 1
                    self.start()
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        self.stopping = True
        self.send(sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.popen.wait(10)


class Host:
    def __init__(self, cluster: "Cluster", name: str):
        self.cluster, self.name, self.addr = cluster, name, addr(name)
        self.dir = os.path.join(cluster.tmp, "hosts", name)
        self.etc, self.logs, self.var = (os.path.join(self.dir, d) for d in ("etc", "log", "var"))
        for d in (self.etc, self.logs, self.var):
            os.makedirs(d, exist_ok=True)
        self.processes: dict[str, Process] = {}
        self.down = False  # killed as a whole host: nothing restarts

    # -- network --
    def create(self) -> None:
        run("ip", "netns", "add", ns(self.name))
        run("ip", "link", "add", ns(self.name), "type", "veth", "peer", "name", "eth0", "netns", ns(self.name))
        run("ip", "link", "set", ns(self.name), "master", BRIDGE, "up")
        self.ip("addr", "add", f"{self.addr}/24", "dev", "eth0")
        self.ip("link", "set", "eth0", "up")
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> None:
        run("ip", "-n", ns(self.name), *args)

    def link(self, up: bool) -> None:
        """The host's cable: its bridge port down (nothing in or out, no reset sent) or up."""
        run("ip", "link", "set", ns(self.name), "up" if up else "down")

    # -- files --
    def values(self, **extra) -> dict[str, str]:
        return {**self.cluster.values, "HOST_ADDR": self.addr, "ETC_DIR": self.etc, **extra}

    def render(self, template: str, name: str | None = None, **extra) -> str:
        return render.render_file(os.path.join(DEPLOY, template), self.values(**extra),
                                  os.path.join(self.etc, name or os.path.basename(template)))

    # -- processes --
    def start(self, name: str, argv: list[str], env: dict | None = None, cwd: str | None = None,
              restart: bool = False, user: str | None = None) -> Process:
        log = os.path.join(self.logs, f"{name}.out")
        process = Process(self, name, argv, env or base_env(), cwd, log, restart=restart, user=user)
        self.processes[name] = process
        return process

    def unit(self, unit: str) -> tuple[dict[str, list[str]], dict[str, str]]:
        """deploy/systemd/<unit> and the env files it names (deploy/env/), rendered for this host:
        its settings and the environment systemd would give its process."""
        settings = parse_unit(self.render(f"systemd/{unit}"))
        env = base_env()
        for env_file in settings.get("EnvironmentFile", []):
            path = env_file.lstrip("-")
            self.render(f"env/{os.path.basename(path)}", os.path.relpath(path, self.etc))
            env.update(read_env_file(path))
        return settings, env

    def start_unit(self, unit: str, name: str | None = None, extra_env: dict | None = None) -> Process:
        """Start a process as systemd would from deploy/systemd/<unit> rendered for this host."""
        settings, env = self.unit(unit)
        env.update(extra_env or {})
        argv = expand(shlex.split(settings["ExecStart"][0]), env)
        restart = settings.get("Restart", ["no"])[0] in ("always", "on-failure")
        process = self.start(name or unit.removesuffix(".service"), argv, env,
                             settings.get("WorkingDirectory", [None])[0], restart=restart)
        process.restart_sec = float(settings.get("RestartSec", ["2"])[0])
        return process

    def run_unit(self, unit: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A Type=oneshot unit: run it to its end in this host's namespace."""
        settings, env = self.unit(unit)
        argv = expand(shlex.split(settings["ExecStart"][0]), env)
        return run("ip", "netns", "exec", ns(self.name), *argv, env=env,
                   cwd=settings.get("WorkingDirectory", [None])[0], timeout=timeout)

    def exec(self, *argv: str, user: str | None = None, env: dict | None = None, timeout: float = 60,
             check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", user, "--"] if user else []
        return run("ip", "netns", "exec", ns(self.name), *prefix, *argv, env=env or base_env(), timeout=timeout,
                   check=check)

    def kill(self) -> None:
        """The host dies: its cable cut, every process in it SIGKILLed, nothing restarted."""
        self.down = True
        self.link(False)
        for process in self.processes.values():
            process.stopping = True
        for pid in ns_pids(self.name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            if process.popen:
                try:
                    process.popen.wait(10)
                except subprocess.TimeoutExpired:
                    pass

    def revive(self) -> None:
        """Power back on (cable in); its processes are started again by the caller."""
        self.down = False
        self.link(True)

    def cpu_seconds(self) -> float:
        """User + system CPU of every process in this host, with that of children it reaped."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in ns_pids(self.name):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        return total / ticks


def redis_cli(host: str, *command: str, port: int = 6379) -> str:
    """redis-cli against a Redis server or Sentinel of the cluster (they share one password)."""
    return run("redis-cli", "-h", host, "-p", str(port), "--no-auth-warning", "-a", PASSWORDS["redis"], *command,
               timeout=10).stdout


def base_env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/root"}


class Cluster:
    """The whole topology; `start()` brings it up, `stop()` always takes it down."""

    def __init__(self, tmp: str, web_workers: int = 2, web_threads: int = 4):
        self.tmp = tmp
        os.chmod(tmp, 0o755)
        self.keys, self.media = os.path.join(tmp, "keys"), os.path.join(tmp, "media")
        for d in (self.keys, self.media):
            os.makedirs(d, exist_ok=True)
        self.values = {
            "APP_DIR": ROOT, "RUN_USER": "sanliang", "KEY_DIR": self.keys, "MEDIA_ROOT": self.media,
            "PUBLIC_BASE_URL": f"http://{addr('lb')}", "WEB_WORKERS": str(web_workers), "WEB_THREADS": str(web_threads),
            # The driver's voters all come from one address (OPS), at a rate no hall reaches.
            "BALLOT_LIMIT_PER_IP": "10000000/minute", "BALLOT_LIMIT_PER_VOTER": "1000/minute",
            "LB_ADDR": addr("lb"), "LB_BIND": f"{addr('lb')}:80", "HAPROXY_LOG": "stderr format short",
            "WEB1_ADDR": addr("web1"), "WEB2_ADDR": addr("web2"),
            "REDIS_PRIMARY_ADDR": addr("redis1"),
            "REDIS_SENTINELS": ",".join(f"{addr(h)}:26379" for h in ("sen1", "sen2", "sen3")),
            "REDIS_SENTINEL_MASTER": "sanliang", "REDIS_SUPERVISED": "no",
            "PG_PRIMARY_ADDR": addr("pg1"), "PG_REPLICA_ADDR": addr("pg2"), "OPS_ADDR": OPS,
            "PGBOUNCER_ADDR": addr("pgb"), "PGBOUNCER_LISTEN": addr("pgb"),
            "SANLIANG_DB_PASSWORD": PASSWORDS["sanliang"], "REDIS_PASSWORD": PASSWORDS["redis"], "PGBOUNCER_ADMIN_PASSWORD": PASSWORDS["pgbouncer"],
        }
        self.hosts = {name: Host(self, name) for name in HOSTS}
        self.pg_primary = "pg1"

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    # -- network --
    def create_network(self) -> None:
        cleanup()
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{OPS}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        for host in self.hosts.values():
            host.create()

    # -- bring-up, in dependency order --
    def start(self) -> None:
        self.create_network()
        self.write_secrets()
        self.start_postgres()
        self.start_pgbouncer()
        self.start_redis()
        self.hosts["wk1"].run_unit("sanliang-release.service")  # migrate, through PgBouncer
        for web in ("web1", "web2"):
            self.start_web(web)
        for wk in ("wk1", "wk2"):
            self.start_worker(wk)
        self.hosts["wk1"].start_unit("sanliang-cron.service")
        self.start_haproxy()

    def write_secrets(self) -> None:
        """What the operator puts on the app hosts: the cookie key and the database password."""
        for name in ("web1", "web2", "wk1", "wk2"):
            host = self.hosts[name]
            with open(os.path.join(host.etc, "secret_key"), "w") as fh:
                fh.write("multihost-secret-key-of-this-run-only")
            os.chmod(os.path.join(host.etc, "secret_key"), 0o600)
            pgpass = os.path.join(host.etc, "pgpass")
            with open(pgpass, "w") as fh:
                fh.write(f"{addr('pgb')}:6432:*:sanliang:{PASSWORDS['sanliang']}\n")
            os.chmod(pgpass, 0o600)

    def _pg_dirs(self, name: str) -> tuple[str, str]:
        host = self.hosts[name]
        data, sockets = os.path.join(host.var, "data"), os.path.join(host.var, "run")
        return data, sockets

    def _pg_start(self, name: str) -> None:
        host = self.hosts[name]
        data, sockets = self._pg_dirs(name)
        host.exec(f"{PG_BIN}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", os.path.join(host.logs, "postgresql.log"),
                  "-o", f"-c unix_socket_directories={sockets}", "start", user="postgres", timeout=90)

    def psql(self, name: str, sql: str, database: str = "postgres", local_commit: bool = False) -> str:
        _data, sockets = self._pg_dirs(name)
        env = base_env()
        if local_commit:  # bootstrap before the replica exists: do not wait for it
            env["PGOPTIONS"] = "-c synchronous_commit=local"
        return self.hosts[name].exec("psql", "-X", "-q", "-h", sockets, "-d", database, "-Atc", sql,
                                     user="postgres", env=env).stdout.strip()

    def start_postgres(self) -> None:
        pg1, pg2 = self.hosts["pg1"], self.hosts["pg2"]
        for host in (pg1, pg2):
            os.makedirs(os.path.join(host.var, "run"), exist_ok=True)
            shutil.chown(host.var, "postgres")
            shutil.chown(host.logs, "postgres")
            shutil.chown(os.path.join(host.var, "run"), "postgres")
        data, _ = self._pg_dirs("pg1")
        pg1.exec(f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth-local=peer", "--auth-host=scram-sha-256",
                 "-E", "UTF8", "--locale=C.UTF-8", user="postgres", timeout=120)
        self._configure_pg("pg1", data, sync="pg2")
        self._pg_start("pg1")
        self.psql("pg1", f"CREATE ROLE sanliang LOGIN PASSWORD '{PASSWORDS['sanliang']}'", local_commit=True)
        self.psql("pg1", "CREATE DATABASE sanliang OWNER sanliang", local_commit=True)
        self.psql("pg1", f"CREATE ROLE replicator REPLICATION LOGIN PASSWORD '{PASSWORDS['replicator']}'",
                  local_commit=True)
        self.make_replica("pg2", "pg1")

    def _configure_pg(self, name: str, data: str, sync: str) -> None:
        host = self.hosts[name]
        conf = host.render("postgresql/sanliang.conf", PG_NAME=name, PG_SYNC_STANDBYS=sync)
        hba = host.render("postgresql/pg_hba.conf")
        with open(os.path.join(data, "postgresql.conf"), encoding="utf-8") as fh:
            lines = [line for line in fh if not line.startswith("include '") or "sanliang.conf" not in line]
        lines.append(f"include '{conf}'\n")
        with open(os.path.join(data, "postgresql.conf"), "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        shutil.copy(hba, os.path.join(data, "pg_hba.conf"))
        for path in (conf, hba, os.path.join(data, "pg_hba.conf"), os.path.join(data, "postgresql.conf")):
            shutil.chown(path, "postgres")

    def make_replica(self, name: str, primary: str) -> None:
        """deploy/postgresql/make-replica.sh on host `name`, following `primary`."""
        host = self.hosts[name]
        data, _ = self._pg_dirs(name)
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data, mode=0o700)
        shutil.chown(data, "postgres")
        pgpass = os.path.join(host.var, "pgpass")
        with open(pgpass, "w") as fh:
            fh.write(f"{addr(primary)}:5432:replication:replicator:{PASSWORDS['replicator']}\n")
        os.chmod(pgpass, 0o600)
        shutil.chown(pgpass, "postgres")
        env = {**base_env(), "PGPASSFILE": pgpass}
        host.exec("sh", os.path.join(DEPLOY, "postgresql", "make-replica.sh"), addr(primary), data, name,
                  user="postgres", env=env, timeout=180)
        self._configure_pg(name, data, sync="")
        self._pg_start(name)
        wait_for(lambda: self.psql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
                 == "1", 60, what=f"{name} streaming from {primary}")

    def start_pgbouncer(self) -> Process:
        host = self.hosts["pgb"]
        run_dir = os.path.join(host.var, "run")
        os.makedirs(run_dir, exist_ok=True)
        shutil.chown(run_dir, "postgres")
        shutil.chown(host.logs, "postgres")
        auth = host.render("pgbouncer/userlist.txt")
        ini = os.path.join(host.etc, "pgbouncer.ini")
        if not os.path.exists(ini):  # rendered once: the operator's repointing edits it in place
            host.render("pgbouncer/pgbouncer.ini", PGBOUNCER_RUN_DIR=run_dir,
                        PGBOUNCER_LOGFILE=os.path.join(host.logs, "pgbouncer.log"), PGBOUNCER_AUTH_FILE=auth)
        for path in (auth, ini):
            os.chmod(path, 0o640)
            shutil.chown(path, "postgres", "postgres")
        shutil.chown(host.etc, "postgres")
        # Debian's pgbouncer.service: ExecStart=/usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini, User=postgres
        process = host.start("pgbouncer", ["/usr/sbin/pgbouncer", ini], user="postgres")
        wait_for(lambda: tcp_open(addr("pgb"), 6432), 20, what="PgBouncer")
        return process

    @property
    def pgbouncer_pidfile(self) -> str:
        return os.path.join(self.hosts["pgb"].var, "run", "pgbouncer.pid")

    def start_redis(self) -> None:
        for name in ("redis1", "redis2"):
            self.start_redis_server(name, replica=(name == "redis2"))
        for name in ("sen1", "sen2", "sen3"):
            host = self.hosts[name]
            conf = host.render("redis/sentinel.conf", **self._redis_dirs(host))
            # Debian's redis-sentinel.service: /usr/bin/redis-sentinel /etc/redis/sentinel.conf
            host.start("sentinel", ["/usr/bin/redis-server", conf, "--sentinel"])
        wait_for(lambda: self.sentinel_master() == addr("redis1"), 30, what="Sentinels")
        wait_for(lambda: all(self.sentinel_ask(s, "SENTINEL", "REPLICAS", "sanliang").count("slave") >= 1
                             and "num-other-sentinels\n2" in self.sentinel_ask(s, "SENTINEL", "MASTER", "sanliang")
                             for s in ("sen1", "sen2", "sen3")), 30, 0.5, what="Sentinels see the replica and each other")

    def _redis_dirs(self, host: Host) -> dict[str, str]:
        run_dir, data_dir = os.path.join(host.var, "run"), os.path.join(host.var, "data")
        for d in (run_dir, data_dir):
            os.makedirs(d, exist_ok=True)
        return {"REDIS_RUN_DIR": run_dir, "REDIS_DATA_DIR": data_dir, "REDIS_LOGFILE": os.path.join(host.logs, "redis.log")}

    def start_redis_server(self, name: str, replica: bool = False) -> Process:
        host = self.hosts[name]
        conf = os.path.join(host.etc, "redis.conf")
        if not os.path.exists(conf):  # rendered once: Sentinel rewrites it
            host.render("redis/redis.conf", **self._redis_dirs(host))
            if replica:
                with open(conf, "a", encoding="utf-8") as fh:
                    fh.write(render.render(open(os.path.join(DEPLOY, "redis", "replica.conf")).read(), host.values()))
        # Debian's redis-server.service: /usr/bin/redis-server /etc/redis/redis.conf
        process = host.start("redis", ["/usr/bin/redis-server", conf])
        wait_for(lambda: tcp_open(host.addr, 6379), 20, what=f"Redis on {name}")
        return process

    def sentinel_ask(self, sentinel: str, *command: str) -> str:
        return redis_cli(addr(sentinel), *command, port=26379)

    def sentinel_master(self) -> str | None:
        for sentinel in ("sen1", "sen2", "sen3"):
            try:
                out = self.sentinel_ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "sanliang").split()
            except (subprocess.SubprocessError, RuntimeError):
                continue
            if out:
                return out[0]
        return None

    def redis_host(self, address: str) -> str:
        return next(name for name in ("redis1", "redis2") if addr(name) == address)

    def start_web(self, name: str) -> Process:
        process = self.hosts[name].start_unit("sanliang-web.service", "web")
        wait_for(lambda: _http_status(self.hosts[name].addr, 8000, "/readyz") == 200, 60, 0.5, what=f"{name} ready")
        return process

    def start_worker(self, name: str) -> Process:
        return self.hosts[name].start_unit("sanliang-worker.service", "worker")

    def start_haproxy(self) -> Process:
        host = self.hosts["lb"]
        errors = os.path.join(host.etc, "errors")
        os.makedirs(errors, exist_ok=True)
        for code in ("502", "503", "504"):
            shutil.copy(os.path.join(DEPLOY, "haproxy", f"{code}.http"), errors)
        cfg = host.render("haproxy/haproxy.cfg", HAPROXY_SOCKET=os.path.join(host.var, "admin.sock"),
                          HAPROXY_ERRORS=errors)
        run("haproxy", "-c", "-q", "-f", cfg)
        # Debian's haproxy.service: /usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS
        process = host.start("haproxy", ["/usr/sbin/haproxy", "-Ws", "-f", cfg, "-p", os.path.join(host.var, "haproxy.pid")])
        wait_for(lambda: _http_status(addr("lb"), 80, "/readyz") == 200, 30, what="HAProxy")
        wait_for(lambda: self.haproxy_up() == {"web1", "web2"}, 30, what="both web hosts up in HAProxy")
        return process

    def haproxy(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(os.path.join(self.hosts["lb"].var, "admin.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def haproxy_up(self) -> set[str]:
        """The web servers HAProxy now sends traffic to."""
        up = set()
        for line in self.haproxy("show stat").splitlines():
            fields = line.split(",")
            if len(fields) > 17 and fields[0] == "web" and fields[1] in ("web1", "web2") and fields[17] == "UP":
                up.add(fields[1])
        return up

    def stop(self) -> None:
        for host in self.hosts.values():
            for process in host.processes.values():
                process.stopping = True
        cleanup()


def _http_status(host: str, port: int, path: str) -> int:
    import http.client

    connection = http.client.HTTPConnection(host, port, timeout=3)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


if __name__ == "__main__":
    if sys.argv[1:] == ["cleanup"]:
        cleanup()
    else:
        print("usage: python -m tests.multihost.topology cleanup", file=sys.stderr)
        sys.exit(2)

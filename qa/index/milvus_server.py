"""A real Milvus server on loopback, for the tests, the benchmarks and `make milvus`.

The PyPI package `milvus` (2.3.5, "Milvus Lite" of its day, not the `milvus-lite` emulation)
ships the Milvus standalone binary: embedded etcd, rocksmq and local storage in one process.
Three of its habits shape this launcher:

* its gRPC ports (proxy, coordinators, nodes, metrics) listen on every interface, and the
  embedded etcd takes 2379/2380. So the server runs in a network namespace of its own that has
  only a loopback interface: nothing outside can reach its ports, and two servers (the tests
  and a benchmark) never collide. A small supervisor process owns one listening socket on the
  host's 127.0.0.1 (opened *before* it enters the namespace) and forwards it to the proxy port
  inside. A fresh namespace per start also means a restart never waits for etcd's port to leave
  TIME_WAIT.
* SIGTERM starts a graceful stop that can take minutes (`common.gracefulStopTimeout` defaults to
  1800 s): `stop()` sends SIGTERM, waits `grace` seconds, then SIGKILLs the process by pid.
  Data written before a flush survives a kill (tested).
* the binaries come compressed (lzma) in the wheel: they are unpacked once into the user's cache
  (`~/.cache/qa/milvus-2.3.5/bin`), the data directory holds only config, logs and data.

    with MilvusServer(Path("/tmp/m")) as server:      # started, healthy (/healthz says OK)
        open_store(server.uri, 384)                   # milvus://127.0.0.1:<port>
                                                      # stopped by pid on leaving

`python -m qa.index.milvus_server --data DIR --port 19530` (`make milvus`) runs one in the
foreground for `QA_VECTOR_STORE=milvus://127.0.0.1:19530`; Ctrl+C stops it.

The namespace needs CAP_SYS_ADMIN (root) or unprivileged user namespaces; where neither is
available the start fails and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import json
import lzma
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from qa.errors import QAError

PROXY_PORT = 19530  # inside the namespace
HEALTH_PORT = 9091
MILVUS_VERSION = "2.3.5"
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_READY = "ready"
# Settings written into the server's milvus.yaml (dotted keys of its template).
_CONFIG = {
    "common.gracefulStopTimeout": 3,  # seconds; 1800 by default
    "log.level": "warn",
    "proxy.ip": "127.0.0.1",
    "rootCoord.ip": "127.0.0.1",
    "queryCoord.ip": "127.0.0.1",
    "queryNode.ip": "127.0.0.1",
    "indexCoord.ip": "127.0.0.1",
    "indexNode.ip": "127.0.0.1",
    "dataCoord.ip": "127.0.0.1",
    "dataNode.ip": "127.0.0.1",
}


class MilvusServerError(QAError):
    """The Milvus server could not start (the message says why and where its logs are)."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa" / f"milvus-{MILVUS_VERSION}"


def binaries() -> Path:
    """The directory of the unpacked `milvus` executable and its libraries (unpacked once,
    under a file lock, so concurrent starts never see half-written files)."""
    try:
        import milvus
    except ImportError as exc:
        raise MilvusServerError(
            f"the Milvus server needs the PyPI package milvus=={MILVUS_VERSION}: "
            "pip install -e '.[milvus]'"
        ) from exc
    packed = Path(milvus.__file__).parent / "data" / "bin"
    target = _cache_dir() / "bin"
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / ".unpacked"
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == milvus.__version__:
            return target
        for source in sorted(packed.glob("*.lzma")):
            out = target / source.name.removesuffix(".lzma")
            tmp = out.with_name(out.name + ".tmp")
            with lzma.open(source) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            tmp.chmod(0o755)
            tmp.replace(out)
        stamp.write_text(milvus.__version__)
    return target


def _write_config(data_dir: Path) -> None:
    """configs/milvus.yaml and glog.conf under `data_dir`, from the package's template, with
    the default ports (free: the namespace is new) and `_CONFIG` applied."""
    from milvus import MilvusServerConfig

    config = MilvusServerConfig(data_dir=str(data_dir))
    for key, value in _CONFIG.items():
        config.set(key, value)
    config.resolve()


# -- inside the supervisor: the namespace and the forwarder -------------------------------
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _enter_namespace() -> None:
    """Move this (single-threaded) process into a new network namespace with loopback up.

    As root, CLONE_NEWNET alone; otherwise a user namespace too, mapping our uid/gid to
    themselves so files keep their owner."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWNET) != 0:
        first = os.strerror(ctypes.get_errno())
        if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
            raise OSError(
                f"cannot create a network namespace ({first}; with a user namespace: "
                f"{os.strerror(ctypes.get_errno())}): run as root or enable unprivileged "
                "user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
            )
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _healthy() -> bool:
    try:
        url = f"http://127.0.0.1:{HEALTH_PORT}/healthz"
        with urllib.request.urlopen(url, timeout=2) as response:
            return b"OK" in response.read()
    except OSError:
        return False


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def _forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    """One host connection <-> one connection to the proxy inside the namespace."""
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", PROXY_PORT)
    except OSError:
        client_w.close()
        return
    for sock in (client_w, server_w):
        sock.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(asyncio.CancelledError):  # the supervisor is stopping
        await asyncio.gather(_pump(client_r, server_w), _pump(server_r, client_w))


def _stop_process(process: subprocess.Popen, grace: float) -> int:
    """SIGTERM, `grace` seconds, then SIGKILL; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


async def _supervise(listener: socket.socket, milvus: subprocess.Popen, args) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    if args.watch_stdin:  # the launching process is gone: stop too
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stopping.set())
    deadline = time.monotonic() + args.timeout
    while not await loop.run_in_executor(None, _healthy):
        if milvus.poll() is not None or stopping.is_set():
            return _stop_process(milvus, args.grace) or 1
        if time.monotonic() > deadline:
            print(f"not healthy after {args.timeout:.0f} s", file=sys.stderr, flush=True)
            return _stop_process(milvus, args.grace) or 1
        await asyncio.sleep(0.2)
    server = await asyncio.start_server(_forward, sock=listener)
    print(json.dumps({_READY: True, "pid": milvus.pid}), flush=True)
    while not stopping.is_set() and milvus.poll() is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 0.2)
    server.close()
    return _stop_process(milvus, args.grace)


def _supervisor_main(args) -> int:
    """Bind the host port, enter a namespace, start Milvus there, forward until it stops."""
    data_dir = Path(args.data).resolve()
    listener = socket.create_server(("127.0.0.1", args.port))  # SO_REUSEADDR: quick restarts
    try:
        _enter_namespace()
    except OSError as exc:
        print(f"{exc}", file=sys.stderr, flush=True)
        return 2
    _write_config(data_dir)
    bin_dir = binaries()
    env = {
        **os.environ,
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(HEALTH_PORT),
        "MILVUS_RUN_DIR": str(data_dir / "run"),
        "LD_LIBRARY_PATH": f"{bin_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}",
    }
    logs = data_dir / "logs"
    with open(logs / "milvus-stdout.log", "a") as out, open(logs / "milvus-stderr.log", "a") as err:
        milvus = subprocess.Popen(
            [str(bin_dir / "milvus"), "run", "standalone"],
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_die_with_parent,  # the supervisor is single-threaded here
        )
    print(json.dumps({"port": listener.getsockname()[1], "pid": milvus.pid}), flush=True)
    return asyncio.run(_supervise(listener, milvus, args))


# -- the launcher ----------------------------------------------------------------------------
class MilvusServer:
    """One server with its data in `data_dir`, served on 127.0.0.1:`port` (0: a free port,
    chosen at the first start and kept across restarts, so `uri` stays valid)."""

    def __init__(self, data_dir: Path, port: int = 0, grace: float = 10.0) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port, self.grace = port, grace
        self.supervisor: subprocess.Popen | None = None
        self.pid = 0  # the milvus process itself
        self.started_s = 0.0  # seconds of the last start, until healthy

    @property
    def uri(self) -> str:
        return f"milvus://127.0.0.1:{self.port}"

    def __enter__(self) -> MilvusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 180.0) -> MilvusServer:
        """Start (reusing the data already in `data_dir`) and wait until healthy, else raise
        `MilvusServerError` with the reason and the tail of its logs."""
        if self.running():
            return self
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        binaries()  # unpack here, outside the timeout of the start
        started = time.perf_counter()
        command = [
            *(sys.executable, "-m", "qa.index.milvus_server", "--supervise", "--watch-stdin"),
            *(f"--data={self.data_dir}", f"--port={self.port}"),
            *(f"--timeout={timeout}", f"--grace={self.grace}"),
        ]
        with open(logs / "supervisor.log", "a") as err:
            self.supervisor = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
            )
        info: dict = {}
        with contextlib.suppress(ValueError, OSError):
            for line in self.supervisor.stdout:  # port and pid at once, "ready" when healthy
                info.update(json.loads(line))
                if info.get(_READY):
                    break
        self.pid = int(info.get("pid", 0))
        if not info.get(_READY):
            self.stop()
            raise MilvusServerError(
                f"Milvus {MILVUS_VERSION} did not start in {self.data_dir}: {_tail(self.data_dir)}"
            )
        self.port = int(info["port"])
        self.started_s = time.perf_counter() - started
        return self

    def running(self) -> bool:
        return self.supervisor is not None and self.supervisor.poll() is None

    def stop(self) -> None:
        """Stop by pid: SIGTERM to the supervisor, which sends SIGTERM to Milvus and SIGKILL
        `grace` seconds later; if the supervisor itself hangs, both are SIGKILLed."""
        if self.supervisor is None:
            return
        if self.supervisor.poll() is None:
            self.supervisor.terminate()
            try:
                self.supervisor.wait(timeout=self.grace + 10)
            except subprocess.TimeoutExpired:
                self.supervisor.kill()
                self.supervisor.wait()
        self._reap()
        for stream in (self.supervisor.stdin, self.supervisor.stdout):
            if stream:
                stream.close()
        self.supervisor = None

    def kill(self) -> None:
        """SIGKILL the Milvus process, as a crash would; the supervisor then exits too."""
        if self.pid and _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.stop()

    def restart(self, timeout: float = 180.0) -> MilvusServer:
        """Stop if running, then start again on the same data and port (the same `uri`)."""
        self.stop()
        return self.start(timeout)

    def _reap(self) -> None:
        """Make sure the Milvus pid is gone (its data directory unlocked) before returning."""
        deadline = time.monotonic() + 30
        while self.pid and _alive(self.pid):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.1)

    def rss_bytes(self) -> int:
        """Resident memory of the Milvus process (0 when it is not running)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone: only its parent can reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _tail(data_dir: Path, lines: int = 15) -> str:
    parts = []
    for name in ("supervisor.log", "milvus-stderr.log", "milvus-stdout.log"):
        path = data_dir / "logs" / name
        if path.exists() and (text := path.read_text(errors="replace").strip()):
            parts.append(f"{path}:\n" + "\n".join(text.splitlines()[-lines:]))
    return "\n".join(parts) or "no log written"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa.index.milvus_server",
        description="Run a Milvus server on 127.0.0.1 in the foreground (Ctrl+C stops it).",
    )
    parser.add_argument("--data", default="milvus-data", help="data directory (kept)")
    parser.add_argument("--port", type=int, default=PROXY_PORT, help="port on 127.0.0.1")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to get healthy")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds of SIGTERM before kill")
    parser.add_argument("--supervise", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--watch-stdin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.supervise:
        return _supervisor_main(args)
    server = MilvusServer(Path(args.data), args.port, args.grace).start(args.timeout)
    print(
        f"Milvus {MILVUS_VERSION} (pid {server.pid}) healthy in {server.started_s:.1f} s; data "
        f"in {server.data_dir}\n  QA_VECTOR_STORE={server.uri} qa index\nCtrl+C stops it.",
        flush=True,
    )
    try:
        server.supervisor.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

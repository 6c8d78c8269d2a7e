"""Test helpers: the real server (on a thread of the test process, or as a
subprocess), a raw line-based TCP client, and the marks for long tests.

Every wait here is bounded: reads have timeouts, the server's log is collected
by a thread and waited on with a condition, never polled with sleep.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import protocol
from batchat import framing, locks
from batchat.server import main as server_module
from batchat.server import options as server_options_module
from batchat.server.accounts import UserStore
from batchat.server.timing import Timing

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "servidor.py"
CLIENT = ROOT / "cliente.py"
# How the tests start a Python for servidor.py, cliente.py and their small helper
# programs (about a hundred per run). -S: without the site module. BatChat is
# standard library only, so site adds nothing these children import, but each
# would pay for it: the .pth files of every package installed on the machine run
# at start-up (one importing certifi costs ~40 ms a process). Not -I or -E: -I
# leaves the script's folder out of sys.path (servidor.py imports protocol.py from
# there) and both ignore the PYTHON* variables the tests set. A person runs
# `python3 cliente.py`, site and all: the --help tests of test_client.py still
# start both programs that way (PERSONS_PYTHON).
PYTHON = (sys.executable, "-S")
PERSONS_PYTHON = (sys.executable,)
TIMEOUT = 10.0  # generous bound for any single wait; a healthy run is far faster
TEST_HASH_COST = "4"  # scrypt n=16: fast tests; production default is 15
# The test servers' waits: a closing connection's grace of 2 s would be waited
# out by every test whose client stops reading, and a connection's pause after
# three wrong passwords by every test that types more (production: Timing()).
TEST_TIMING = Timing(close_grace=0.25, failure_pause=0.01)
# cliente.py's hidden option for its first reconnection wait (1 s for a person): tests
# that watch a real client reconnect wait 0.2 s instead.
FAST_RETRY = ("--first-retry", "0.2")
# Long tests (stress loops, the largest scrypt) run only with this set to 1, as
# .ci/run does; a plain `python3 -m unittest` skips them and says so at the end.
LONG_TESTS = "BATCHAT_TESTES_LONGOS"
LONG_TEST_REASON = f"teste longo: roda com {LONG_TESTS}=1 (o .ci/run liga)"
READY_RE = re.compile(r"pronto em (?:\[[0-9a-f:]+\]|[\d.]+):(\d+)")
# Runs servidor.py or cliente.py as on Windows: the Unix-only modules missing.
WITHOUT_UNIX = ROOT / "tests" / "without_unix.py"
# A self-signed certificate for 127.0.0.1 and localhost, and a second one that
# did not sign it (see tests/test_tls.py for how they were made).
TLS_FOLDER = ROOT / "tests" / "tls"
TLS_CERT = TLS_FOLDER / "servidor.crt"
TLS_KEY = TLS_FOLDER / "servidor.key"
OTHER_CA = TLS_FOLDER / "outra-ca.crt"


def _share_compiled_modules() -> None:
    """Let the children compile BatChat's modules once per run, not once each.

    With PYTHONDONTWRITEBYTECODE set (as on the machines the suite is often run
    on), every servidor.py and cliente.py a test starts compiles all of BatChat
    again (~35 ms). Instead they keep the bytecode in a temporary folder of this
    run (PYTHONPYCACHEPREFIX, removed at the end): the repository still gets no
    __pycache__. Where Python may write bytecode, or a prefix is already set,
    nothing changes. The old Pythons of test_portability set the variable again.
    """
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    folder = tempfile.mkdtemp(prefix="batchat-testes-pyc-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = folder


_share_compiled_modules()


def socket_pair(test: unittest.TestCase, buffer: int = 0) -> tuple[socket.socket, socket.socket]:
    """A connected pair, closed after ``test``: the server's end, and the peer's,
    whose reads time out after TIMEOUT. ``buffer``: socket buffers that small, so
    that a peer which does not read fills them quickly."""
    server_side, peer = socket.socketpair()
    for sock in (server_side, peer):
        test.addCleanup(sock.close)
        if buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    peer.settimeout(TIMEOUT)
    return server_side, peer


def long_test(test: Any) -> Any:
    """Mark a test method or class as long: skipped unless ``BATCHAT_TESTES_LONGOS=1``."""
    return unittest.skipUnless(os.environ.get(LONG_TESTS) == "1", LONG_TEST_REASON)(test)


def own_process(test: Any) -> Any:
    """Mark a test method or class whose server must be ``servidor.py`` in a process of
    its own: where the process is the point (signals, ``kill -9``, SIGSTOP, ``/proc``)."""
    test.server_in_own_process = True
    return test


class CollectedLines:
    """Lines another thread adds, and a wait (with a timeout) for one matching a pattern."""

    EOF_MARK = "<EOF>"

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._changed = threading.Condition()

    def add(self, line: str) -> None:
        with self._changed:
            self._lines.append(line)
            self._changed.notify_all()

    def end(self) -> None:
        """No more lines will come: a wait for one fails at once."""
        self.add(self.EOF_MARK)

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(line for line in self._lines if line != self.EOF_MARK)

    def wait_for(self, pattern: str, timeout: float = TIMEOUT, count: int = 1) -> re.Match[str]:
        """Wait until ``count`` lines match ``pattern``; return the last match.

        Fails the test after ``timeout``.
        """
        regex = re.compile(pattern)
        seen = 0
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if (match := regex.search(line)) and (count := count - 1) == 0:
                        return match
                seen = len(self._lines)
                if self._lines and self._lines[-1] == self.EOF_MARK:
                    raise AssertionError(f"stream ended before {pattern!r}:\n{self.text}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no line matched {pattern!r}:\n{self.text}")
                self._changed.wait(remaining)


class StreamLines(CollectedLines):
    """Drain a text stream in a thread, so the process never blocks on a full pipe."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self._stream = stream
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for line in self._stream:
            self.add(line.rstrip("\n"))
        self.end()

    def close(self, timeout: float = TIMEOUT) -> None:
        self._thread.join(timeout)
        self._stream.close()


def received_until_closed(sock: socket.socket, unless: bytes | None = None) -> bytes:
    """Every byte the peer sent on ``sock`` until it closed its end, or sent ``unless``
    (then at once: a test that must not see it fails without waiting); each read
    bounded by the socket's timeout (set one)."""
    data = b""
    while (unless is None or unless not in data) and (chunk := sock.recv(65536)):
        data += chunk
    return data


def temporary_folder(test: unittest.TestCase) -> Path:
    """A new folder, removed after ``test`` (TestCase.enterContext is Python 3.11+)."""
    folder = tempfile.TemporaryDirectory()
    test.addCleanup(folder.cleanup)
    return Path(folder.name)


class UsersFileTestCase(unittest.TestCase):
    """Tests of the account store on a real users.json (``self.path``) in a folder of
    their own (``self.folder``); :meth:`store` opens it, closed after the test."""

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.path = self.folder / "users.json"

    def store(self) -> UserStore:
        store = UserStore(self.path, int(TEST_HASH_COST))
        self.addCleanup(store.close)
        return store


def set_folder_writable(test: unittest.TestCase, folder: Path, writable: bool) -> None:
    """Make ``folder`` read-only, or writable again, even when tests run as root (root
    ignores mode bits: the folder is made immutable with chattr instead). Skips ``test``
    where that cannot be done."""
    if os.name != "posix":
        test.skipTest("folder permissions are POSIX")
    if os.geteuid() != 0:
        folder.chmod(0o755 if writable else 0o555)
        return
    chattr = shutil.which("chattr")
    flag = "-i" if writable else "+i"
    if chattr is None or subprocess.run([chattr, flag, str(folder)], capture_output=True).returncode:
        test.skipTest("running as root without a working chattr: cannot make a folder read-only")


def open_files_limiter(count: int) -> Callable[[], None]:
    """What lowers a child's limit of open files, run between fork and exec (Unix only:
    tests that need it skip elsewhere). ``resource`` is imported here, in the parent:
    the child, forked from a process with threads, must not import."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def last_seen(users_path: Path, name: str) -> float | None:
    """When users.json says ``name`` (a name key) was last seen, or ``None``."""
    record = json.loads(users_path.read_text(encoding="utf-8"))["users"][name]
    return protocol.parse_timestamp(record.get("last_seen", ""))


def has_proc() -> bool:
    """Whether /proc tells about processes and sockets (Linux): leak tests need it."""
    return Path("/proc/self/status").exists()


def server_options(
    users_path: Path, extra_args: tuple[str, ...], port: int, host: str, timing: Timing | None
) -> list[str]:
    """servidor.py's options for a test server: the address, the files, a fast hash."""
    waits = ("--timing", timing.as_option()) if timing is not None else ()
    return [
        "--host", host, "--port", str(port), "--users", str(users_path), "--hash-cost", TEST_HASH_COST,
        *waits, *extra_args,
    ]


class ServerLog:
    """A test server's log, line by line, and the port its "ready" line names."""

    _log: CollectedLines
    port: int

    @property
    def log(self) -> str:
        return self._log.text

    def wait_for_log(self, pattern: str, timeout: float = TIMEOUT, count: int = 1) -> re.Match[str]:
        return self._log.wait_for(pattern, timeout, count)

    def wait_ready(self) -> int:
        self.port = int(self.wait_for_log(READY_RE.pattern).group(1))
        return self.port


class ServerProcess(ServerLog):
    """``servidor.py`` running on 127.0.0.1, its stderr log collected line by line."""

    def __init__(
        self, users_path: Path, *extra_args: str, port: int = 0, max_open_files: int = 0,
        host: str = "127.0.0.1", launcher: tuple[str, ...] = (), timing: Timing | None = None,
    ) -> None:
        """``launcher``: a script that runs servidor.py (e.g. ``WITHOUT_UNIX``)."""
        self.users_path = users_path
        self.process = subprocess.Popen(
            [*PYTHON, *launcher, str(SERVER), *server_options(users_path, extra_args, port, host, timing)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            cwd=users_path.parent,
            preexec_fn=open_files_limiter(max_open_files) if max_open_files else None,
        )
        assert self.process.stderr is not None
        self._stream = StreamLines(self.process.stderr)
        self._log = self._stream
        self.port = 0

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """Send ``sig`` and wait for the exit; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            status = self.process.wait(timeout)
        finally:
            self._stream.close(timeout)
        if locks.MARK in self.log:  # a lock taken out of order in the server (see batchat.locks)
            raise AssertionError(f"O servidor pegou uma trava fora da ordem dos níveis:\n{self.log}")
        return status

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def _status(self, field: str) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]

    def threads(self) -> int:
        return self._status("Threads")

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))


class InProcessServer(ServerLog):
    """The real server on a thread of the test process: servidor.py's own start-up and
    shutdown (:func:`batchat.server.main.start`, then ``serve``) without a new interpreter,
    several times cheaper to start than :class:`ServerProcess`.

    It offers what :class:`ServerProcess` does but the process itself: :meth:`stop`
    is the shutdown SIGTERM and SIGINT both cause, and there is no ``kill``, no
    ``/proc``. Tests that need those are marked :func:`own_process`. The log is
    what BatChat's loggers say while it runs, formatted as servidor.py's stderr
    (a second in-process server running at the same time would show there too).
    """

    def __init__(
        self, users_path: Path, *extra_args: str, port: int = 0, host: str = "127.0.0.1",
        timing: Timing | None = None,
    ) -> None:
        self.users_path = users_path
        self.port = 0
        args = server_options_module.parse_arguments(server_options(users_path, extra_args, port, host, timing))
        self._log = CollectedLines()
        self._handler = _LinesHandler(self._log)
        _capture_log(self._handler, args.log_level)
        try:
            started = server_module.start(args)
        except server_module.StartUpError as error:
            _release_log(self._handler)
            raise AssertionError(f"the in-process server did not start: {error}") from error
        self._server = started.server
        self._status: list[int] = []  # the "exit status", once serve() has returned
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, args=(started,), name="servidor-em-teste", daemon=True)
        self._thread.start()

    def _serve(self, started: server_module.StartedServer) -> None:
        try:
            started.serve()
            self._status.append(0)
        except Exception:  # as the process would: said in the log, and a non-zero status
            server_module.log.exception("Erro inesperado: o servidor parou.")
            self._status.append(1)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """Shut down as SIGTERM or SIGINT would, and wait for it; returns 0 when clean."""
        if sig not in (signal.SIGTERM, signal.SIGINT):
            raise ValueError(f"signal {sig}: an in-process server only stops; mark the test @own_process")
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._thread.join(timeout)
            _release_log(self._handler)
            if self._thread.is_alive():
                raise AssertionError("the in-process server did not stop in time")
        return self._status[0]


class _LinesHandler(logging.Handler):
    """A logging handler adding each line of each record to a :class:`CollectedLines`."""

    def __init__(self, lines: CollectedLines) -> None:
        super().__init__()
        self._lines = lines
        self.setFormatter(logging.Formatter(server_module.LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).splitlines():
            self._lines.add(line)


# BatChat's loggers while in-process servers run: their records go to those servers'
# logs only (not to stderr), at the most detailed --log-level among them.
_BATCHAT_LOG = logging.getLogger("batchat")
_capture_lock = threading.Lock()
_captures: dict[logging.Handler, int] = {}  # handler -> its server's log level
_saved_log_state: list[tuple[int, bool]] = []  # the logger's level and propagation before


def _capture_log(handler: logging.Handler, level_name: str) -> None:
    with _capture_lock:
        if not _captures:
            _saved_log_state.append((_BATCHAT_LOG.level, _BATCHAT_LOG.propagate))
            server_module.status_log.setLevel(logging.INFO)  # as main() does: "ready" at any level
        _captures[handler] = logging.getLevelName(level_name)
        _BATCHAT_LOG.addHandler(handler)
        _BATCHAT_LOG.setLevel(min(_captures.values()))
        _BATCHAT_LOG.propagate = False


def _release_log(handler: logging.Handler) -> None:
    with _capture_lock:
        if _captures.pop(handler, None) is None:
            return
        _BATCHAT_LOG.removeHandler(handler)
        if _captures:
            _BATCHAT_LOG.setLevel(min(_captures.values()))
            return
        level, propagate = _saved_log_state.pop()
        _BATCHAT_LOG.setLevel(level)
        _BATCHAT_LOG.propagate = propagate


class ClientProcess:
    """``cliente.py`` with piped stdin, its stdout collected line by line."""

    def __init__(
        self, port: int, *extra_args: str, host: str = "127.0.0.1", launcher: tuple[str, ...] = ()
    ) -> None:
        self.process = subprocess.Popen(
            [*PYTHON, *launcher, str(CLIENT), "--host", host, "--port", str(port), *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        self.output = StreamLines(self.process.stdout)

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def end_input(self) -> None:
        """Close stdin, as Ctrl-D does."""
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self.output.close(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        if self.process.stdin:
            self.process.stdin.close()
        self.wait()


class LineClient:
    """A raw protocol client: sends lines, reads lines, every read with a timeout."""

    def __init__(
        self, port: int, *, read_greeting: bool = True, source_ip: str = "127.0.0.1",
        receive_buffer: int = 0, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1",
    ) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.settimeout(TIMEOUT)
        if receive_buffer:  # set before connecting, so the TCP window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.bind((host if ":" in host else source_ip, 0))
        self.sock.connect((host, port))
        if tls is not None:  # one thread per test client: SSLSocket is safe here
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self._framer = framing.LineFramer()
        self._lines: deque[str] = deque()
        self.login_lines: list[str] = []  # what came before OK ENTRAR (see logged_in)
        self.limits_line: str | None = None  # the LIMITES line right after the greeting
        if read_greeting:
            self.expect(f"{protocol.GREETING_WORD} {protocol.PROTOCOL_VERSION} ")
            self.limits_line = self.expect("LIMITES ")

    def send(self, line: str) -> None:
        self.sock.sendall(protocol.encode_line(line))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def assert_silent(self, seconds: float) -> None:
        """Assert that for ``seconds`` nothing arrives and the connection stays open."""
        try:
            line = self.read_line(seconds)
        except AssertionError as error:
            if "timed out" in str(error):
                return
            raise
        raise AssertionError(f"expected silence, got {line!r}")

    def read_line(self, timeout: float = TIMEOUT) -> str:
        """The next server line; fails the test on timeout or closed connection."""
        deadline = time.monotonic() + timeout
        while not self._lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for a server line")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("timed out waiting for a server line") from None
            if not data:
                raise AssertionError("server closed the connection")
            self._lines.extend(line.decode("utf-8") for line in self._framer.feed(data))
        return self._lines.popleft()

    def expect(self, prefix: str, timeout: float = TIMEOUT) -> str:
        """Read the next line and assert it starts with ``prefix``."""
        line = self.read_line(timeout)
        if not line.startswith(prefix):
            raise AssertionError(f"expected a line starting with {prefix!r}, got {line!r}")
        return line

    def read_until(self, prefix: str, timeout: float = TIMEOUT) -> tuple[str, list[str]]:
        """Read until a line starts with ``prefix``; return it and the lines skipped."""
        skipped = []
        deadline = time.monotonic() + timeout
        while not (line := self.read_line(max(0.0, deadline - time.monotonic()))).startswith(prefix):
            skipped.append(line)
        return line, skipped

    def request(self, line: str) -> str:
        """Send ``line`` and return the next server line (the reply)."""
        self.send(line)
        return self.read_line()

    def reply(self, line: str) -> tuple[str, list[str]]:
        """Send ``line``; return its reply's final ``OK`` or ``ERRO`` line, and the lines
        before it (for ``ENTRAR``: the kept messages, their count and the history)."""
        self.send(line)
        before = []
        while not (final := self.read_line()).startswith(("OK ", "ERRO ")):
            before.append(final)
        return final, before

    def expect_closed(self, timeout: float = TIMEOUT) -> list[str]:
        """Read until the server closes; return the lines that came before."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                lines.append(self.read_line(max(0.0, deadline - time.monotonic())))
            except AssertionError as error:
                if "closed" in str(error):
                    return lines
                raise
            except ConnectionResetError:
                return lines

    def abort(self) -> None:
        """Close with a TCP reset, as a crashed client or a dropped link would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


class ServerTestCase(unittest.TestCase):
    """A fresh server in a fresh folder for each test, stopped afterwards.

    The server runs on a thread of the test process (:class:`InProcessServer`),
    unless the test or its class is marked :func:`own_process` or has a
    ``server_launcher``: then it is servidor.py as a subprocess.
    """

    server_args: tuple[str, ...] = ()
    server_host = "127.0.0.1"
    server_launcher: tuple[str, ...] = ()  # e.g. (str(WITHOUT_UNIX),)
    server_timing: Timing | None = TEST_TIMING  # None: the production waits
    server_in_own_process = False  # set by @own_process on the class or on one test

    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.users_path = self.folder / "users.json"
        self.server = self.start_server()

    def start_server(self, port: int = 0, own_process: bool | None = None) -> Any:
        """A :class:`ServerProcess` or an :class:`InProcessServer`, ready. ``own_process``:
        which one; by default as the test is marked (see the class)."""
        server: ServerProcess | InProcessServer
        if self.needs_own_process() if own_process is None else own_process:
            server = ServerProcess(
                self.users_path, *self.server_args, port=port, host=self.server_host,
                launcher=self.server_launcher, timing=self.server_timing,
            )
            self.addCleanup(server.kill)
        else:
            server = InProcessServer(
                self.users_path, *self.server_args, port=port, host=self.server_host, timing=self.server_timing,
            )
            self.addCleanup(server.stop)
        server.wait_ready()
        return server

    def needs_own_process(self) -> bool:
        test_method = getattr(self, self._testMethodName, None)
        marked = self.server_in_own_process or getattr(test_method, "server_in_own_process", False)
        return bool(marked or self.server_launcher)

    def connect(self, **options: Any) -> LineClient:
        client = LineClient(self.server.port, **{"host": self.server_host, **options})
        self.addCleanup(client.close)
        return client

    def register(self, name: str, password: str = "senha123") -> None:
        client = self.connect()
        self.assertEqual(client.request(f"NOVO {name} {password}"), f"OK NOVO {name}")
        client.close()

    def logged_in(
        self, name: str, password: str = "senha123", *, register: bool = True, **options: Any
    ) -> LineClient:
        """A connection logged in as ``name`` (registering it first); the lines its
        login's reply held before ``OK ENTRAR`` are in ``login_lines``."""
        client = self.connect(**options)
        if register:
            self.assertEqual(client.request(f"NOVO {name} {password}"), f"OK NOVO {name}")
        reply, client.login_lines = client.reply(f"ENTRAR {name} {password}")
        self.assertEqual(reply, f"OK ENTRAR {name}")
        return client

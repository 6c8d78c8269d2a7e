"""What differs between Linux, macOS and Windows for the server, each behind one small named function.

Owns no shared state; called by the server's modules only. The rest of the
server never imports a Unix-only module (``resource``, ``fcntl``...) nor
tests ``sys.platform``: it calls one of these functions, which does the best
the platform allows and says at debug level, once, what it had to skip
(:func:`batchat.portable.skip`). Nothing here is needed for chatting to
work; each piece only makes the server sturdier where the system offers it.
The client's counterpart is :mod:`batchat.client.terminal`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from batchat.portable import skip as _skip

log = logging.getLogger("batchat.system")


# --- Files ---------------------------------------------------------------------------


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit of open files to the hard limit; return it.

    Each client is one file descriptor, and the usual soft limit (1024) would
    refuse the thousandth client while the system allows far more. ``None``
    where there is no such limit to raise (Windows has no ``resource``).
    """
    try:
        import resource
    except ImportError:
        _skip("o limite de arquivos abertos (resource)")
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as error:  # macOS refuses more than OPEN_MAX
            log.debug("Não foi possível aumentar o limite de arquivos abertos: %s", error)
    return soft


def fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` survive a crash (POSIX: fsync the folder itself).

    Windows cannot open a folder as a file; there ``os.replace`` alone is what
    the system offers, and NTFS journals the rename.
    """
    if not hasattr(os, "O_DIRECTORY"):
        _skip("fsync de pastas")
        return
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)


def lock_file_exclusively(fd: int) -> None:
    """Lock the open file ``fd`` for this process, without waiting; raise ``OSError``
    if another process holds it. The kernel releases the lock when the process
    ends, however it ends, so a lock file left by a killed server stops nobody.

    ``flock`` on Unix, ``msvcrt.locking`` on Windows, each imported only here.
    A system with neither runs without the lock (said at debug level).
    """
    try:
        import fcntl
    except ImportError:
        try:
            import msvcrt
        except ImportError:
            _skip("travas de arquivo (fcntl, msvcrt)")
            return
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --- Sockets -------------------------------------------------------------------------

_DONTWAIT: int | None = getattr(socket, "MSG_DONTWAIT", None)


def send_without_blocking(sock: socket.socket, data: bytes) -> int:
    """Send what ``sock`` takes at once, without waiting; how many bytes went.

    0 when the socket takes nothing now, and always on a platform with no
    per-call non-blocking send (Windows has no ``MSG_DONTWAIT``): the caller's
    writer thread then sends it with blocking calls. Raises ``OSError`` when
    the connection is broken.
    """
    if _DONTWAIT is None:
        _skip("envio sem bloqueio (MSG_DONTWAIT)")
        return 0
    try:
        return sock.send(data, _DONTWAIT)
    except BlockingIOError:
        return 0


def set_keepalive(sock: socket.socket, idle_seconds: float) -> None:
    """Probe a silent peer after ``idle_seconds`` and drop it if it does not answer.

    TCP keep-alive: the kernel sends the probes, so a crashed machine or a
    pulled cable ends the session (and broadcasts SAIU) without any traffic
    of ours. TCP_USER_TIMEOUT (Linux) does the same for data a dead peer never
    acknowledges. Each system names the settings differently; what it lacks
    keeps the system's default.
    """
    idle = max(1, int(idle_seconds))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "SIO_KEEPALIVE_VALS") and hasattr(sock, "ioctl"):  # Windows
        sock.ioctl(socket.SIO_KEEPALIVE_VALS, (1, idle * 1000, max(1, idle // 10) * 1000))
        return
    for names, value in (
        (("TCP_KEEPIDLE", "TCP_KEEPALIVE"), idle),  # TCP_KEEPALIVE: macOS's name for it
        (("TCP_KEEPINTVL",), max(1, idle // 10)),
        (("TCP_KEEPCNT",), 3),
        (("TCP_USER_TIMEOUT",), idle * 1000),
    ):
        option = next((getattr(socket, name) for name in names if hasattr(socket, name)), None)
        if option is None:
            _skip(f"a opção de socket {names[0]}")
            continue
        sock.setsockopt(socket.IPPROTO_TCP, option, value)


def wants_dual_stack(host: str) -> bool:
    """Whether listening on ``host`` should take IPv4 too: ``::`` (every IPv6
    address) where the system can also accept IPv4 on an IPv6 socket."""
    return host == "::" and socket.has_dualstack_ipv6()


def open_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on ``host`` (IPv4, IPv6 or a name) and ``port``.

    Raises ``OSError`` (``socket.gaierror`` for a name that does not resolve).
    ``create_server`` sets SO_REUSEADDR on POSIX: a restart right after a
    shutdown can bind the port again despite connections in TIME_WAIT.
    """
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server(
        (host, port), family=family, backlog=backlog, dualstack_ipv6=wants_dual_stack(host)
    )


def peer_ip(address: tuple[str, ...] | tuple[str, int]) -> str:
    """The peer's IP as people write it: an IPv4 client of a dual-stack listener
    shows as ``203.0.113.5``, not ``::ffff:203.0.113.5`` (and counts as that IP)."""
    ip = str(address[0])
    return ip.removeprefix("::ffff:") if ip.startswith("::ffff:") and "." in ip else ip


# --- Signals -----------------------------------------------------------------------


def on_stop_request(handler: Callable[[str], None]) -> None:
    """Call ``handler(signal name)`` on Ctrl-C (SIGINT), ``kill`` (SIGTERM) and, on
    Windows, Ctrl-Break (SIGBREAK): each where the platform has it."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        handler(signal.Signals(signum).name)

    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is None:
            _skip(f"o sinal {name}")
            continue
        signal.signal(number, handle)

"""BatChat's server: start-up, the accept loop and shutdown (its options: ``batchat.server.options``).

``python3 servidor.py`` checks the Python version and calls :func:`main`.
The flow, top to bottom (imports only go down):

* :class:`ChatServer` accepts connections and runs each in a thread of its
  own: the TLS handshake (``batchat.server.tls_handshake``), the greeting and the ``LIMITES``
  line, then the read loop (``batchat.server.read_loop``), each line through a
  :class:`batchat.server.session.ChatSession`, until the client leaves; then one
  log line says who ended it (``batchat.server.ending``).
* Each session calls the one owner of the chat rules
  (``batchat.server.chat.ChatService``), which uses the shared stores:
  accounts (``batchat.server.accounts``), the registry of who is online
  (``batchat.server.registry``), the kept messages (``batchat.server.mailbox``,
  handed over by ``batchat.server.delivery``), the moderation state
  (``batchat.server.moderation``), the rooms (``batchat.server.rooms``, whose
  rules are ``batchat.server.room_rules``) and the limits
  (``batchat.server.limits``); each one owns its state under one lock.
* Every socket is a :class:`batchat.server.connection.Connection`.

Errors come in three tiers: a :class:`protocol.ProtocolError` becomes an
``ERRO`` reply; an ``OSError`` ends that one session in its ``finally``;
anything else is logged with its traceback and the server keeps serving.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import ipaddress
import logging
import math
import selectors
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import protocol
from protocol import ProtocolError
from batchat.server import os_support, replies
from batchat.server.accounts import UserStore
from batchat.server.appointment import appoint_teachers, AppointmentError
from batchat.server.connection import Connection
from batchat.server.ending import CLIENT_CLOSED, describe_end, Closer, Ending, SessionEnded
from batchat.server.log_file import LogFileError, open_log_file
from batchat.server.limits import GuessThrottle, limit_error, Limits, RateLimiter
from batchat.server.mailbox import Mailbox
from batchat.server.moderation import Moderation, NOBODY
from batchat.server.options import DEFAULT_HISTORY, DEFAULT_PORT, limits_from, parse_arguments
from batchat.server.read_loop import read_lines
from batchat.server.registry import SessionRegistry
from batchat.server.rooms import DEFAULT_ROOM_HISTORY, RoomStore
from batchat.rooms_names import GENERAL
from batchat.server.chat import ServerContext
from batchat.server.session import ChatSession
from batchat.server.storage import data_folder_problem, disk_error_reason, DataFiles, FolderInUse, StorageError
from batchat.server.timing import DEFAULT_TIMING, Timing
from batchat.server.tls_handshake import TlsSettings

log = logging.getLogger(__name__)
# The "ready" and "stopped" lines are shown whatever --log-level says.
status_log = logging.getLogger("batchat.status")


# socketserver's 5 drops connections when a class connects at once; a storm of
# thousands needs the kernel's maximum (net.core.somaxconn clamps it).
LISTEN_BACKLOG = socket.SOMAXCONN


ACCEPT_BATCH = 256  # connections accepted per wake-up before checking for shutdown


# Each connection's thread mostly waits in recv(); Python code needs little
# stack. 256 KiB instead of the usual 8 MiB keeps 10,000 threads in a few GiB
# of address space (the pages really used are a few KiB each).
THREAD_STACK_SIZE = 256 * 1024


# A thread waiting for the GIL wakes up every switch interval to ask for it.
# With a thousand runnable threads the default 5 ms means 200,000 wake-ups a
# second; our threads give the GIL up at every recv() anyway, so a longer
# interval costs no fairness (measured: unicast with 1,000 clients 12.7k -> 23.9k
# deliveries/s; no change with 100).
SWITCH_INTERVAL = 0.05


# Windows runs a signal handler only when the main thread comes back to Python
# code, never inside select(): wake up now and then so Ctrl-C is heard there.
ACCEPT_WAKE = 0.5



SERVER_STOPPING = Ending(Closer.SERVER, "o servidor está sendo encerrado")


LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"  # each line of the log, on stderr (and in --log-file)


def start_connection_thread(serve: Callable[[Connection], None], connection: Connection) -> None:
    """Run ``serve(connection)`` in a new thread, without waiting for it to begin.

    ``threading.Thread.start()`` waits until the new thread runs, and under a
    login storm thousands of threads queue for the GIL ahead of it: the accept
    loop took one connection per turn of that queue (10,000 logins: 25-30 s
    with this, 110-160 s and some never in with ``Thread``; bench/README.md).
    The low-level ``_thread`` starts the thread and returns. Such a thread is
    a daemon, on purpose: shutdown closes every socket itself and waits a
    bounded time for the registry to empty (``_end_sessions``), so one stuck
    thread never keeps the process alive. ``serve`` catches everything itself
    (the three tiers of errors). It has no ``threading.Thread`` object: asking
    for one (``threading.current_thread()``) would make a ``_DummyThread`` that
    outlives it in ``threading``'s table, so log records do not ask
    (:func:`quiet_thread_names`).
    Raises ``RuntimeError`` when no thread can be started.
    """
    _thread.start_new_thread(serve, (connection,))


def quiet_thread_names() -> None:
    """Log records without the thread's name: a connection's thread is no
    ``threading.Thread`` (see :func:`start_connection_thread`), and a record asking
    its name would leave a ``_DummyThread`` behind it (``threading.enumerate()``
    then lists threads long gone). LOG_FORMAT never shows it."""
    logging.logThreads = False


class ChatServer:
    """Accept connections and run one thread per connection until :meth:`shutdown`."""

    def __init__(
        self,
        host: str,
        port: int,
        users: UserStore,
        limits: Limits,
        *,
        mailbox_path: Path,
        moderation_path: Path,
        rooms_path: Path,
        history: int = DEFAULT_HISTORY,
        room_lines: int = DEFAULT_ROOM_HISTORY,
        free_rooms: bool = False,
        tls: TlsSettings | None = None,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        quiet_thread_names()  # before any connection's thread can log
        self._limits = limits
        self._tls = tls
        self._timing = timing
        # Listening first: a port in use stops the start before the mailbox creates its files.
        self._listener = os_support.open_listener(host, port, LISTEN_BACKLOG)
        self._listener.setblocking(False)  # accept until none is left, then back to select()
        self._registry = SessionRegistry(limits.max_clients, limits.max_per_ip, history, timing=timing)
        self._open_stores(mailbox_path, moderation_path, rooms_path, room_lines)
        # What #geral's replay starts with: its last lines, kept across restarts.
        self._registry.seed_history(
            [replies.history(line.sender, line.sent_at, line.text) for line in self._rooms.history(GENERAL, history)]
        )
        self._context = ServerContext(
            users,
            self._registry,
            self._mailbox,
            limits,
            registrations=RateLimiter(limits.register_rate),
            login_attempts=RateLimiter(limits.login_attempts),
            guesses=GuessThrottle(limits.login_rate, timing=timing),
            timing=timing,
            moderation=self._moderation,
            rooms=self._rooms,
            free_rooms=free_rooms,
        )
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._last_refusal_log = -math.inf  # only the accept loop touches these two
        self._refusals_not_logged = 0
        self._welcome = welcome_lines(limits)  # the greeting and LIMITES, encoded once

    def _open_stores(self, mailbox_path: Path, moderation_path: Path, rooms_path: Path, room_lines: int) -> None:
        """The mailbox, the moderation state and the rooms; one that fails to open closes
        what opened before it, and the listener."""
        with contextlib.ExitStack() as undo:
            undo.callback(self._listener.close)
            self._mailbox = Mailbox(mailbox_path, self._limits.max_pending)
            undo.callback(self._mailbox.close)
            self._moderation = Moderation(moderation_path)
            undo.callback(self._moderation.close)
            self._rooms = RoomStore(rooms_path, room_lines)
            undo.pop_all()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return os_support.peer_ip((host,)), port

    def record_appointed(self, names: list[str]) -> None:
        """Record the teachers ``--professor`` made at this start (``ACAO <quando> - PROFESSOR <nome>``)."""
        for name in names:
            try:
                self._context.teaching.record(NOBODY, "PROFESSOR", name)
            except ProtocolError as error:  # INDISPONIVEL: the disk refused; the role itself is kept
                log.error("O registro não anotou que %s virou professor: %s", name, error.text)

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called, then close them all."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select(ACCEPT_WAKE):
                    if key.fileobj is self._listener:
                        self._accept()
        self._close_everything()

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop; safe from a signal handler or any thread."""
        self._stopping.set()
        try:
            self._wake_writer.send(b"x")
        except OSError:
            log.debug("O servidor já estava acordado para encerrar.")

    def _accept(self) -> None:
        """Accept the connections waiting, up to ACCEPT_BATCH: a storm drains in few wake-ups."""
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as error:
                self._accept_failed(error)
                return
            sock.setblocking(True)  # the listener is not; each connection's thread blocks
            self._start_session(sock, address)

    def _start_session(self, sock: socket.socket, address: tuple[str, int]) -> None:
        connection = Connection(sock, address, self._limits.max_queue, self._timing)
        if self._tls is not None:
            connection.expect_tls()
        refusal = self._registry.admit(connection)
        if refusal is not None:
            self._refuse(connection, refusal)
            return
        try:
            start_connection_thread(self._serve_connection, connection)
        except RuntimeError as error:  # "can't start new thread": out of memory or limits
            log.error("Sem recursos para atender %s: %s", connection, error)
            self._registry.remove_connection(connection)
            sock.close()

    def _accept_failed(self, error: OSError) -> None:
        if error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            # The pending connection stays in the backlog and the listener stays
            # readable: pause, or this loop would spin and flood the log.
            pause = self._timing.accept_pause
            log.error("Sem recursos para aceitar conexões (%s); pausa de %.1f s.", error.strerror, pause)
            self._stopping.wait(pause)
        else:
            log.warning("Falha ao aceitar conexão: %s", error)

    def _refuse(self, connection: Connection, reason: str) -> None:
        """Tell a connection over the limits why, without ever blocking, and close it."""
        self._log_refusal(connection, reason)
        line = replies.error(limit_error(reason))
        try:
            connection.sock.setblocking(False)
            connection.sock.send(line)
        except OSError:
            log.debug("Não foi possível avisar %s da recusa.", connection)
        connection.sock.close()

    def _log_refusal(self, connection: Connection, reason: str) -> None:
        """At most one log line per second for refused connections: they cost nothing to make."""
        now = time.monotonic()
        if now - self._last_refusal_log < 1.0:
            self._refusals_not_logged += 1
            return
        more = f" (e mais {self._refusals_not_logged} recusadas)" if self._refusals_not_logged else ""
        log.warning("Conexão de %s recusada: %s%s", connection, reason, more)
        self._last_refusal_log = now
        self._refusals_not_logged = 0

    def _serve_connection(self, connection: Connection) -> None:
        session = ChatSession(connection, self._context)
        log.info("Nova conexão de %s.", connection)
        ending = CLIENT_CLOSED
        try:
            self._prepare_socket(connection.sock)
            early = b""  # lines that came in the same packets as the end of the TLS handshake
            if self._tls is not None:
                early = connection.use_tls(self._tls.handshake(connection.sock))
            connection.send_encoded(self._welcome)
            read_lines(connection, session, self._limits, early)
        except SessionEnded as ended:
            ending = ended.ending
        except OSError as error:
            ending = link_failure(error)
        except Exception:
            ending = Ending(Closer.SERVER, "erro interno")
            log.exception("Erro inesperado na conexão %s.", connection)
        finally:
            try:
                session.send_batch()  # the ERRO lines the read loop itself queued (a deadline, a long line)
            finally:  # whatever happened above, the session must not stay online
                session.end()
                connection.finish()
                self._registry.remove_connection(connection)
                log.info("%s", describe_end(str(connection), session.name, connection.ending or ending))

    def _say_goodbye(self, connections: list[Connection]) -> None:
        """Tell everyone, and give what waits for each connection ``close_grace`` to go out."""
        goodbye = replies.info("O servidor está sendo encerrado. Até logo!")
        for connection in connections:
            connection.send_encoded(goodbye)
            connection.close(SERVER_STOPPING)
        deadline = time.monotonic() + self._timing.close_grace
        for connection in connections:
            connection.wait_flushed(max(0.0, deadline - time.monotonic()))

    def _end_sessions(self, connections: list[Connection]) -> None:
        """Cut every connection off and wait for its thread to end, mailbox still open.

        A recipient slower than the grace still has acknowledged private
        messages in its outbox: as its connection ends, its thread keeps them
        in the mailbox (see :class:`_LiveBatch`), and so does a sender's thread
        for a batch refused on the way out. Waiting for the threads is waiting
        for those commits; the log says how many there were.
        """
        before = self._mailbox.kept_unwritten
        self._context.guesses.close()  # a login waiting for its turn ends now
        for connection in connections:
            connection.drop(SERVER_STOPPING)
        if not self._registry.wait_until_empty(self._timing.end_grace):
            log.error("Algumas conexões não terminaram em %g s; o que elas não escreveram pode se perder.",
                      self._timing.end_grace)
        kept = self._mailbox.kept_unwritten - before
        if kept == 1:
            log.info("1 mensagem privada ainda não entregue foi guardada.")
        else:
            log.info("%d mensagens privadas ainda não entregues foram guardadas.", kept)

    def _save_last_seen(self) -> None:
        """Whoever is still online was last seen now: on disk before the process ends."""
        now = time.time()
        for name in self._registry.names(held=False):  # a held SAIU's person was seen leaving
            self._context.users.record_seen(name, now)
        try:
            self._context.users.save()
        except OSError as error:
            log.error("Não foi possível gravar quando cada um foi visto por último: %s", error)
        self._context.users.close()

    def _prepare_socket(self, sock: socket.socket) -> None:
        # Every flush already sends everything waiting in one call: Nagle's
        # algorithm would only hold small replies back waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._limits.idle_timeout:
            os_support.set_keepalive(sock, self._limits.idle_timeout)

    def _close_everything(self) -> None:
        """Stop accepting, say goodbye, end every session keeping what it never wrote,
        and only then close the mailbox. Every stop request comes here: SIGINT, SIGTERM,
        SIGHUP, and on Windows Ctrl-Break and the console window closed."""
        log.info("Encerrando o servidor...")
        self._listener.close()
        connections = self._registry.connections()
        self._say_goodbye(connections)
        self._end_sessions(connections)
        self._registry.close()
        self._mailbox.close()
        self._moderation.close()
        self._rooms.close()
        self._save_last_seen()
        self._wake_reader.close()
        self._wake_writer.close()
        status_log.info("Servidor encerrado.")


def welcome_lines(limits: Limits) -> bytes:
    """What every connection served gets first: the greeting ``BATCHAT <versao> <texto>``,
    which tells a client it reached a BatChat server (before it, the client sends no
    password), then ``LIMITES``. A connection refused at once gets one ``ERRO`` instead."""
    return replies.welcome(
        "Bem-vindo ao BatChat! Digite AJUDA para ver os comandos.", limits.flood_rate, limits.flood_burst,
        limits.max_line,
    )


def link_failure(error: OSError) -> Ending:
    """How a connection whose socket failed ended, for the log."""
    if isinstance(error, ConnectionResetError):
        return Ending(Closer.LINK, "o cliente sumiu sem avisar (conexão reiniciada)")
    if isinstance(error, TimeoutError):  # keep-alive probes, or data, never acknowledged
        return Ending(Closer.LINK, "o cliente parou de responder")
    return Ending(Closer.LINK, f"erro de conexão ({error.strerror or error})")


def listen_problem(host: str, port: int, error: OSError) -> str:
    """What went wrong opening the listening socket, as a sentence that says what to do."""
    where = protocol.format_address(host, port)
    if isinstance(error, socket.gaierror):
        return (
            f"O endereço {host} não foi encontrado: não é um IP nem um nome que este computador "
            "conheça. Confira o --host (por exemplo --host 0.0.0.0 para aceitar de qualquer lugar)."
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"Outro programa já usa a porta {port} (talvez outro servidor BatChat); "
            f"rode com --port {port + 1 if port < 65535 else 5050} ou pare o outro programa."
        )
    if error.errno == errno.EACCES:
        return (
            f"Sem permissão para usar {where}: portas abaixo de 1024 são reservadas ao "
            "administrador. Rode com --port 5050 (ou outra acima de 1023)."
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"O endereço {host} não é de nenhuma interface deste computador; rode com "
            "--host 0.0.0.0 (todas as interfaces) ou o IP de uma delas."
        )
    return f"Não foi possível escutar em {where} ({disk_error_reason(error)})."


def accounts_phrase(count: int) -> str:
    """``1 conta``, ``0 contas``, ``31 contas``: the ready line's count of accounts."""
    return f"{count} conta" if count == 1 else f"{count} contas"


def how_to_connect(
    host: str, port: int, tls_cert: Path | None,
    find_addresses: Callable[[], list[str]] = os_support.outward_addresses,
) -> str:
    """The end of the ready line: the command that connects to this server, for the teacher
    to hand out. Listening on every address (``0.0.0.0``, ``::``), with this machine's
    addresses that other machines reach (``find_addresses``); on one address, with it."""
    def command(address: str | None) -> str:
        words = ["python3 cliente.py", address, None if port == DEFAULT_PORT else str(port)]
        if tls_cert is not None:
            words.append(f"--tls --cafile {tls_cert.name}")
        return " ".join(word for word in words if word)

    ip = ipaddress.ip_address(host)
    if not ip.is_unspecified:
        if ip.is_loopback:
            return f"Só conexões desta máquina: {command(None if host == '127.0.0.1' else host)}"
        return f"Os alunos conectam com: {command(host)}"
    families = {4, 6} if os_support.wants_dual_stack(host) else {ip.version}
    found = [address for address in find_addresses() if ipaddress.ip_address(address).version in families]
    if found:
        return "Os alunos conectam com: " + " ou ".join(command(address) for address in found)
    here = command(None if 4 in families else "::1")
    return (
        f"Nesta máquina, conecte com: {here}. O IP desta máquina na rede não foi encontrado: "
        f"veja-o com ip addr (no Windows, ipconfig), e das outras máquinas: {command('<IP>')}"
    )


def tune_threads() -> None:
    """Small thread stacks and a longer GIL switch interval (see the constants)."""
    threading.stack_size(THREAD_STACK_SIZE)
    sys.setswitchinterval(SWITCH_INTERVAL)


class StartUpError(Exception):
    """The server cannot start; the argument is the sentence that says why and what to do."""


def main(argv: list[str] | None = None) -> int:
    """Start the server with the command line's options; the exit status."""
    args = parse_arguments(argv)
    log_file_problem = _set_up_logging(args)
    if log_file_problem is not None:
        log.critical("%s", log_file_problem)
        return 1
    open_files = os_support.raise_open_file_limit()
    if open_files is not None:
        log.debug("Até %d arquivos abertos (cada cliente usa um).", open_files)
    tune_threads()
    try:
        started = start(args)
    except StartUpError as error:
        log.critical("%s", error)
        return 1

    def stop(signal_name: str) -> None:
        log.info("Sinal %s recebido.", signal_name)
        started.server.shutdown()

    stopped = threading.Event()  # a closed console window (Windows) waits for this
    os_support.on_stop_request(stop)
    # Windows ends the process about 5 s after the console closes, whatever this says.
    os_support.on_console_close(stop, stopped, args.timing.close_grace + args.timing.end_grace)
    started.serve()
    stopped.set()
    return 0


def _set_up_logging(args: Any) -> str | None:
    """The log on stderr and, with ``--log-file``, in that file too; why the file cannot
    be written, or ``None``."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    problem = None
    if args.log_file is not None:
        try:
            # First: each line is in the file by the time stderr shows it (tests wait on stderr).
            handlers.insert(0, open_log_file(args.log_file))
        except LogFileError as error:
            problem = str(error)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, handlers=handlers)
    status_log.setLevel(logging.INFO)
    return problem


@dataclass
class StartedServer:
    """A server listening with its data files locked, as :func:`start` leaves it."""

    server: ChatServer
    users: UserStore
    files: DataFiles  # locked until the server has written everything
    args: Any

    def serve(self) -> None:
        """Say it is ready, serve until :meth:`ChatServer.shutdown`, then let the files go."""
        status_log.info(
            "Servidor BatChat pronto em %s%s (%s em %s). %s",
            protocol.format_address(*self.server.address), " com TLS" if self.args.tls_cert else "",
            accounts_phrase(len(self.users)), self.args.users, how_to_connect(*self.server.address, self.args.tls_cert),
        )
        self.server.serve_forever()
        self.files.release()  # held until everything is written; the next server may start now


def start(args: Any) -> StartedServer:
    """Everything :func:`main` does before serving that leaves the process alone (no
    signal handlers, logging set-up or process limits): the certificate, the data files
    locked, the accounts, the listening socket. Raises :class:`StartUpError`, having
    left the folders as it found them.

    Also called by the tests that run the server on a thread of their own process.
    """
    files = DataFiles([args.users, args.mailbox, args.moderation, args.rooms])
    try:
        tls = _load_tls(args)
        _lock_data_files(args, files)
        users, server = _open_server(args, tls)
    except BaseException:
        files.abandon()  # a failed start leaves the folders as it found them
        raise
    return StartedServer(server, users, files, args)


def _load_tls(args: Any) -> TlsSettings | None:
    if args.tls_cert is None:
        return None
    try:
        return TlsSettings.load(args.tls_cert, args.tls_key, args.tls_timeout)
    except OSError as error:  # ssl.SSLError is one too: not PEM, or key and cert do not match
        reason = getattr(error, "reason", None) or error.strerror or error
        raise StartUpError(
            f"Não foi possível usar o certificado {args.tls_cert} com a chave {args.tls_key}: {reason}"
        ) from error


def _lock_data_files(args: Any, files: DataFiles) -> None:
    """Check the data folders, then lock their files, before anything reads or cleans up
    there: another server may be using them."""
    for folder in dict.fromkeys([args.users.parent, args.mailbox.parent]):
        if (problem := data_folder_problem(folder)) is not None:
            raise StartUpError(problem)
    try:
        files.lock()
    except FolderInUse as error:
        raise StartUpError(str(error)) from error
    except StorageError as error:
        raise StartUpError(f"Não foi possível iniciar: {error}") from error


def _open_server(args: Any, tls: TlsSettings | None) -> tuple[UserStore, ChatServer]:
    """The accounts, then the server listening (the mailbox opens with it)."""
    try:
        users = UserStore(args.users, args.hash_cost)
        appointed = appoint_teachers(users, args.professor)
        server = ChatServer(
            args.host, args.port, users, limits_from(args),
            mailbox_path=args.mailbox, moderation_path=args.moderation, rooms_path=args.rooms,
            history=args.history, room_lines=args.room_lines, free_rooms=args.free_rooms,
            tls=tls, timing=args.timing,
        )
        server.record_appointed(appointed)
    except StorageError as error:
        raise StartUpError(f"Não foi possível iniciar: {error}") from error
    except AppointmentError as error:
        users.close()
        raise StartUpError(str(error)) from error
    except OSError as error:
        raise StartUpError(listen_problem(args.host, args.port, error)) from error
    return users, server

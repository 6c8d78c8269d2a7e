"""BatChat server: a threaded TCP chat speaking the line protocol of ``protocol.py``.

Run ``python3 servidor.py --help`` for the options.

Structure, one piece of shared state per class, each with one lock:

* :class:`UserStore` owns the accounts and ``users.json``. Passwords are
  hashed with scrypt outside any lock; the file is rewritten atomically and
  durably, and concurrent registrations share one write (group commit).
* :class:`SessionRegistry` owns who is online. Callers copy the recipients
  under its lock and send after releasing it.
* :class:`Connection` owns one socket: the connection's thread reads from it,
  and a writer thread drains its outgoing queue, so a slow reader only ever
  blocks its own writer.
* :class:`ChatSession` is the protocol state of one connection (logged in or
  not, as whom) and dispatches each command.
* :class:`ChatServer` accepts connections and shuts everything down cleanly.

Errors come in three tiers: a :class:`protocol.ProtocolError` becomes an
``ERRO`` reply; an ``OSError`` ends that one session in its ``finally``;
anything else is logged with its traceback and the server keeps serving.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import json
import logging
import os
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import protocol
from protocol import ErrorCode, ProtocolError

log = logging.getLogger("batchat")

DEFAULT_PORT = 5050
DEFAULT_HASH_COST = 15  # scrypt n = 2**15: ~90 ms and 32 MiB per hash on a 2020s core
RECV_SIZE = 65536
LISTEN_BACKLOG = 128  # socketserver's 5 drops connections when a class connects at once
SHUTDOWN_GRACE = 2.0  # seconds to let goodbyes flush before the process exits
USERS_FILE_VERSION = 1

T = TypeVar("T")


# --- Accounts ----------------------------------------------------------------


class UserStoreError(Exception):
    """``users.json`` cannot be used (corrupt, unreadable)."""


@dataclass(frozen=True)
class PasswordHash:
    """An scrypt hash with the parameters it was made with."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def create(cls, password: str, cost: int) -> PasswordHash:
        """Hash ``password`` with a fresh random salt and ``n = 2**cost``."""
        salt = os.urandom(16)
        return cls(2**cost, 8, 1, salt, _scrypt(password, salt, 2**cost, 8, 1))

    def matches(self, password: str) -> bool:
        """Whether ``password`` hashes to this key (constant-time comparison)."""
        candidate = _scrypt(password, self.salt, self.n, self.r, self.p)
        return hmac.compare_digest(candidate, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "alg": "scrypt",
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "key": base64.b64encode(self.key).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PasswordHash:
        if data.get("alg") != "scrypt":
            raise ValueError(f"algoritmo de hash desconhecido: {data.get('alg')!r}")
        return cls(
            int(data["n"]),
            int(data["r"]),
            int(data["p"]),
            base64.b64decode(data["salt"], validate=True),
            base64.b64decode(data["key"], validate=True),
        )


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses by default above 32 MiB; allow what these parameters need.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


@dataclass(frozen=True)
class Account:
    """A registered user: the name as registered and the password hash."""

    name: str
    password_hash: PasswordHash


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files that a killed server left beside ``path`` mid-write.

    They never hold anything acknowledged: an account is acknowledged only
    after its temp file was renamed over ``path``.
    """
    for stale in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        log.warning("Removendo arquivo temporário abandonado %s.", stale)
        stale.unlink(missing_ok=True)


def write_file_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    A temp file in the same folder is written, fsynced and renamed over
    ``path``; then the folder is fsynced so the rename itself survives a
    crash. A reader, or a restart after SIGKILL or power loss, sees either the
    old file or the new one, never a mix. The file is created with mode 0600.
    """
    folder = path.parent
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp_file:
            os.fchmod(temp_file.fileno(), 0o600)
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass  # the rename already happened, or mkstemp's file is gone
        raise
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)


class UserStore:
    """The registered accounts, kept in a JSON file.

    API: :meth:`register`, :meth:`authenticate`, :meth:`exists`.

    The lock guards only the in-memory dicts. Hashing and file writes happen
    outside it. Writes are serialised by ``_write_lock`` and batched: a
    registration waits until a write that includes it is on disk (group
    commit), so ``OK NOVO`` always means durable, and a burst of registrations
    costs a few file writes instead of one per account.
    """

    def __init__(self, path: Path, hash_cost: int = DEFAULT_HASH_COST) -> None:
        self._path = path
        self._hash_cost = hash_cost
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._accounts: dict[str, Account] = self._load(path)
        remove_stale_temp_files(path)
        self._pending: dict[str, Account] = {}  # registered, not yet on disk
        self._version = 0  # bumped on every change to the set of accounts
        self._durable_version = 0  # the newest version known to be on disk
        # Unknown names are checked against this hash, so that a login costs
        # the same time whether the name exists or not.
        self._dummy_hash = PasswordHash.create("batchat-dummy-password", hash_cost)
        # Each scrypt call takes 2**cost * 1 KiB of memory: bound how many run.
        self._hash_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

    @staticmethod
    def _load(path: Path) -> dict[str, Account]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise UserStoreError(f"não foi possível ler {path}: {error.strerror}") from error
        try:
            document = json.loads(raw)
            records = document["users"]
            accounts = {}
            for record in records.values():
                account = Account(record["name"], PasswordHash.from_json(record["hash"]))
                accounts[protocol.name_key(account.name)] = account
            return accounts
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UserStoreError(
                f"o arquivo de contas {path} está corrompido ({error!s}). "
                "Corrija-o ou mova-o para outro lugar; o servidor não inicia por cima dele."
            ) from error

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)

    def exists(self, name: str) -> bool:
        """Whether an account with this name (ignoring case) is registered."""
        with self._lock:
            return protocol.name_key(name) in self._accounts

    def register(self, name: str, password: str) -> str:
        """Create an account and return once it is on disk.

        Raises ``USUARIO_EXISTE`` if the name is taken (ignoring case, also by a
        registration still being written), ``INDISPONIVEL`` if the file cannot
        be written. Returns the name as registered.
        """
        key = protocol.name_key(name)
        with self._lock:
            taken = key in self._accounts or key in self._pending
        if taken:  # cheap early answer; the check under the lock below decides
            raise self._exists_error()
        account = Account(name, self._hash(lambda: PasswordHash.create(password, self._hash_cost)))
        with self._lock:
            if key in self._accounts or key in self._pending:
                raise self._exists_error()
            self._pending[key] = account
            self._version += 1
            my_version = self._version
        try:
            self._commit(my_version)
        except OSError as error:
            with self._lock:
                del self._pending[key]
                self._version += 1
            log.error("Não foi possível gravar %s: %s", self._path, error)
            raise ProtocolError(
                ErrorCode.UNAVAILABLE, "Não foi possível criar a conta agora; tente mais tarde."
            ) from error
        return name

    def authenticate(self, name: str, password: str) -> str | None:
        """Return the registered name if the password is right, else ``None``."""
        with self._lock:
            account = self._accounts.get(protocol.name_key(name))
        stored = account.password_hash if account else self._dummy_hash
        if self._hash(lambda: stored.matches(password)) and account:
            return account.name
        return None

    def _hash(self, compute: Callable[[], T]) -> T:
        with self._hash_slots:
            return compute()

    @staticmethod
    def _exists_error() -> ProtocolError:
        return ProtocolError(ErrorCode.USER_EXISTS, "Esse nome de usuário já está em uso.")

    def _commit(self, version: int) -> None:
        """Make sure the accounts as of ``version`` are on disk."""
        with self._write_lock:
            if self._durable_version >= version:
                return  # another thread's write already carried ours
            with self._lock:
                snapshot = {**self._accounts, **self._pending}
                snapshot_version = self._version
            write_file_durably(self._path, self._serialize(snapshot.values()))
            with self._lock:
                self._durable_version = snapshot_version
                for key in snapshot.keys() & self._pending.keys():
                    self._accounts[key] = self._pending.pop(key)

    @staticmethod
    def _serialize(accounts: Iterable[Account]) -> bytes:
        users = {
            protocol.name_key(account.name): {
                "name": account.name,
                "hash": account.password_hash.to_json(),
            }
            for account in accounts
        }
        document = {"version": USERS_FILE_VERSION, "users": users}
        return json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


# --- Connections ---------------------------------------------------------------


class Connection:
    """One client socket, with an outgoing queue drained by its own writer thread.

    :meth:`send_line` never blocks: it queues the line and returns. The writer
    thread is the only one that writes to the socket, so lines reach the client
    in the order they were queued, and a client that does not read blocks
    nobody but its own writer.
    """

    def __init__(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self.sock = sock
        self.ip, self.port = address[0], address[1]
        self._outbox: collections.deque[bytes] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._closing = False  # no more lines are accepted
        self._writer = threading.Thread(
            target=self._write_loop, name=f"writer-{self.ip}:{self.port}", daemon=True
        )
        self._writer.start()

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    def send_line(self, line: str) -> bool:
        """Queue ``line``; ``False`` if the connection is closing and it was dropped."""
        data = protocol.encode_line(line)
        with self._ready:
            if self._closing:
                return False
            self._outbox.append(data)
            self._ready.notify()
        return True

    def close(self) -> None:
        """Stop accepting lines; the writer sends what is queued, then closes the socket."""
        with self._ready:
            self._closing = True
            self._ready.notify()

    def wait_closed(self, timeout: float) -> None:
        """Wait for the writer to flush and close, at most ``timeout`` seconds."""
        self._writer.join(timeout)

    def _write_loop(self) -> None:
        try:
            while batch := self._next_batch():
                self.sock.sendall(batch)
        except OSError as error:
            log.debug("Falha ao enviar para %s: %s", self, error)
            with self._ready:
                self._closing = True
                self._outbox.clear()
        finally:
            self._shut_down_socket()

    def _next_batch(self) -> bytes:
        """Everything queued, joined into one send; ``b""`` once closed and drained."""
        with self._ready:
            while not self._outbox and not self._closing:
                self._ready.wait()
            batch = b"".join(self._outbox)
            self._outbox.clear()
            return batch

    def _shut_down_socket(self) -> None:
        # shutdown() wakes the reader thread blocked in recv(); the reader's
        # finally closes the file descriptor, so it is closed exactly once.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            log.debug("Socket de %s já estava desconectado.", self)


# --- Who is online -----------------------------------------------------------------


class SessionRegistry:
    """Every open connection, and which logged-in session holds each name.

    API: :meth:`add_connection`, :meth:`remove_connection`, :meth:`log_in`,
    :meth:`log_out`, :meth:`find`, :meth:`names`, :meth:`everyone_but`,
    :meth:`connections`. Methods return copies; no I/O happens under the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, ChatSession] = {}
        self._connections: set[Connection] = set()

    def add_connection(self, connection: Connection) -> None:
        with self._lock:
            self._connections.add(connection)

    def remove_connection(self, connection: Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def connections(self) -> list[Connection]:
        """Every open connection, logged in or not."""
        with self._lock:
            return list(self._connections)

    def log_in(self, session: ChatSession) -> tuple[ChatSession | None, list[ChatSession]]:
        """Make ``session`` the one holding its name.

        Returns the session it replaced (or ``None``) and everyone else online.
        """
        assert session.name is not None
        with self._lock:
            replaced = self._by_name.get(protocol.name_key(session.name))
            self._by_name[protocol.name_key(session.name)] = session
            others = [s for s in self._by_name.values() if s is not session]
        return replaced, others

    def log_out(self, session: ChatSession) -> list[ChatSession] | None:
        """Remove ``session`` if it still holds its name.

        Returns everyone still online, or ``None`` if ``session`` was not the
        holder (it had been replaced by a newer login, or never logged in).
        """
        if session.name is None:
            return None
        key = protocol.name_key(session.name)
        with self._lock:
            if self._by_name.get(key) is not session:
                return None
            del self._by_name[key]
            return list(self._by_name.values())

    def find(self, name: str) -> ChatSession | None:
        with self._lock:
            return self._by_name.get(protocol.name_key(name))

    def names(self) -> list[str]:
        """Names online, sorted ignoring case."""
        with self._lock:
            names = [session.name for session in self._by_name.values() if session.name is not None]
        return sorted(names, key=lambda name: (name.casefold(), name))

    def everyone_but(self, session: ChatSession) -> list[ChatSession]:
        with self._lock:
            return [s for s in self._by_name.values() if s is not session]


def send_to_all(sessions: Iterable[ChatSession], line: str) -> None:
    """Queue ``line`` for each session; called with no lock held."""
    for session in sessions:
        session.connection.send_line(line)


# --- One client's protocol state ------------------------------------------------------


class SessionEnded(Exception):
    """The session must end now (SAIR, or replaced by a newer login)."""


class ChatSession:
    """The protocol state of one connection, and the handler of its commands."""

    def __init__(self, connection: Connection, users: UserStore, registry: SessionRegistry) -> None:
        self.connection = connection
        self.name: str | None = None  # set once logged in
        self._users = users
        self._registry = registry

    def handle_raw_line(self, raw: bytes) -> None:
        """Decode, parse and execute one line; protocol errors become ``ERRO`` replies."""
        try:
            command = protocol.parse_command(protocol.decode_line(raw))
            if command is not None:
                self._execute(command)
        except ProtocolError as error:
            self.connection.send_line(protocol.format_error(error))

    def _execute(self, command: protocol.Command) -> None:
        match command:
            case protocol.Register(name, password):
                self._require_logged_out()
                registered = self._users.register(name, password)
                log.info("Conta %s criada a partir de %s.", registered, self.connection)
                self._reply("NOVO", registered)
            case protocol.Login(name, password):
                self._log_in(name, password)
            case protocol.ListUsers():
                self._require_logged_in()
                self._reply("LISTA", " ".join(self._registry.names()))
            case protocol.PrivateMessage(recipient, text):
                self._send_private(recipient, text)
            case protocol.Broadcast(text):
                sender = self._require_logged_in()
                self._reply("TODOS")
                send_to_all(self._registry.everyone_but(self), protocol.format_public(sender, text))
            case protocol.Quit():
                self._reply("SAIR")
                raise SessionEnded
            case protocol.Help():
                for line in protocol.help_lines():
                    self.connection.send_line(line)
                self._reply("AJUDA")

    def _reply(self, command: str, detail: str = "") -> None:
        self.connection.send_line(protocol.format_ok(command, detail))

    def _require_logged_in(self) -> str:
        if self.name is None:
            raise ProtocolError(
                ErrorCode.NOT_AUTHENTICATED, "Entre primeiro com ENTRAR <usuario> <senha>."
            )
        return self.name

    def _require_logged_out(self) -> None:
        if self.name is not None:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, f"Você já entrou como {self.name}.")

    def _log_in(self, name: str, password: str) -> None:
        self._require_logged_out()
        registered = self._users.authenticate(name, password)
        if registered is None:
            log.info("Falha de login a partir de %s.", self.connection)
            raise ProtocolError(ErrorCode.CREDENTIALS, "Usuário ou senha incorretos.")
        self.name = registered
        # Queue OK before becoming visible, so it precedes any message to us.
        self._reply("ENTRAR", registered)
        replaced, others = self._registry.log_in(self)
        log.info(
            "%s se conectou com o IP %s por meio da porta %d.",
            registered,
            self.connection.ip,
            self.connection.port,
        )
        if replaced is not None:
            # The same person is still online: only the old connection hears of it.
            log.info("Sessão anterior de %s (%s) substituída.", registered, replaced.connection)
            replaced.connection.send_line(
                protocol.format_error(
                    ProtocolError(
                        ErrorCode.SESSION_REPLACED,
                        "Sua conta entrou em outra conexão; esta será encerrada.",
                    )
                )
            )
            replaced.connection.close()
        else:
            send_to_all(others, protocol.format_joined(registered))

    def _send_private(self, recipient_name: str, text: str) -> None:
        sender = self._require_logged_in()
        recipient = self._registry.find(recipient_name)
        delivered = recipient is not None and recipient.connection.send_line(
            protocol.format_private(sender, text)
        )
        if recipient is not None and delivered:
            self._reply("CHAT", recipient.name or recipient_name)
        elif self._users.exists(recipient_name):
            raise ProtocolError(ErrorCode.USER_OFFLINE, f"{recipient_name} não está online.")
        else:
            raise ProtocolError(ErrorCode.UNKNOWN_USER, f"Não existe usuário {recipient_name}.")

    def end(self, reason: str) -> None:
        """Leave the chat: tell the others if we were the session holding our name."""
        others = self._registry.log_out(self)
        if others is not None:
            log.info("%s saiu do chat (%s).", self.name, reason)
            send_to_all(others, protocol.format_left(self.name or ""))


# --- The server ---------------------------------------------------------------


class ChatServer:
    """Accept connections and run one thread per connection until :meth:`shutdown`."""

    def __init__(self, host: str, port: int, users: UserStore) -> None:
        self._users = users
        self._registry = SessionRegistry()
        self._listener = socket.create_server(
            (host, port), backlog=LISTEN_BACKLOG, reuse_port=False
        )
        # create_server sets SO_REUSEADDR on POSIX: a restart right after a
        # shutdown can bind the port again despite connections in TIME_WAIT.
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return host, port

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called, then close them all."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._listener:
                        self._accept()
        self._close_everything()

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop; safe from a signal handler or any thread."""
        self._stopping.set()
        try:
            self._wake_writer.send(b"x")
        except OSError:
            pass  # already woken and closed: nothing left to wake

    def _accept(self) -> None:
        try:
            sock, address = self._listener.accept()
        except OSError as error:
            # E.g. EMFILE, or a connection reset before accept: not fatal.
            log.warning("Falha ao aceitar conexão: %s", error)
            return
        thread = threading.Thread(
            target=self._serve_connection,
            args=(sock, address),
            name=f"conn-{address[0]}:{address[1]}",
            # Daemon on purpose: shutdown closes every socket itself and waits a
            # bounded time, so one stuck thread can never keep the process alive.
            daemon=True,
        )
        thread.start()

    def _serve_connection(self, sock: socket.socket, address: tuple[str, int]) -> None:
        connection = Connection(sock, address)
        session = ChatSession(connection, self._users, self._registry)
        self._registry.add_connection(connection)
        log.info("Nova conexão de %s.", connection)
        reason = "conexão encerrada pelo cliente"
        try:
            connection.send_line(
                protocol.format_info("Bem-vindo ao BatChat! Digite AJUDA para ver os comandos.")
            )
            self._read_lines(sock, session)
        except SessionEnded:
            reason = "SAIR"
        except OSError as error:
            reason = f"erro de conexão: {error.strerror or error}"
        except Exception:
            reason = "erro interno"
            log.exception("Erro inesperado na conexão %s.", connection)
        finally:
            session.end(reason)
            connection.close()
            connection.wait_closed(SHUTDOWN_GRACE)
            self._registry.remove_connection(connection)
            sock.close()
            log.info("Conexão de %s encerrada (%s).", connection, reason)

    def _read_lines(self, sock: socket.socket, session: ChatSession) -> None:
        framer = protocol.LineFramer()
        while data := sock.recv(RECV_SIZE):
            for raw in framer.feed(data):
                session.handle_raw_line(raw)

    def _close_everything(self) -> None:
        log.info("Encerrando o servidor...")
        self._listener.close()
        connections = self._registry.connections()
        goodbye = protocol.format_info("O servidor está sendo encerrado. Até logo!")
        for connection in connections:
            connection.send_line(goodbye)
            connection.close()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for connection in connections:
            connection.wait_closed(max(0.0, deadline - time.monotonic()))
        self._wake_reader.close()
        self._wake_writer.close()
        log.info("Servidor encerrado.")


# --- Command line ----------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Servidor do BatChat: um chat TCP com um protocolo de linhas em português.",
    )
    parser.add_argument(
        "--host",
        default="0.0.0.0",
        help="endereço onde escutar (padrão: 0.0.0.0, todas as interfaces; "
        "use 127.0.0.1 para aceitar só desta máquina)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"porta TCP (padrão: {DEFAULT_PORT}; 0 escolhe uma porta livre e a mostra)",
    )
    parser.add_argument(
        "--users",
        type=Path,
        default=Path("users.json"),
        help="arquivo das contas, criado se não existir (padrão: users.json)",
    )
    parser.add_argument(
        "--hash-cost",
        type=int,
        default=DEFAULT_HASH_COST,
        choices=range(1, 21),
        metavar="N",
        help=f"custo do scrypt para senhas novas: n = 2**N (padrão: {DEFAULT_HASH_COST}; "
        "valores baixos só para testes e benchmarks)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="detalhe do log (padrão: INFO)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        users = UserStore(args.users, args.hash_cost)
        server = ChatServer(args.host, args.port, users)
    except UserStoreError as error:
        log.critical("Não foi possível iniciar: %s", error)
        return 1
    except OSError as error:
        log.critical(
            "Não foi possível escutar em %s:%d: %s", args.host, args.port, error.strerror or error
        )
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("Sinal %s recebido.", signal.Signals(signum).name)
        server.shutdown()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    host, port = server.address
    log.info(
        "Servidor BatChat pronto em %s:%d (%d contas em %s).", host, port, len(users), args.users
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

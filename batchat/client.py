"""BatChat terminal client: an irssi-like line interface, standard library only.

Run ``python3 cliente.py [--host 127.0.0.1] [--port 5050]`` and type the
protocol's commands; ``AJUDA`` (or ``?``) lists them with examples.

Threads
-------
- The main thread connects, receives server lines and turns each into what the
  person reads; when the connection drops without ``SAIR`` it reconnects with
  backoff (1, 2, 4 ... 30 s) and logs back in with the last credentials that
  worked, held in memory only.
- The keyboard thread reads what the person types, asks for passwords with a
  hidden prompt, answers ``AJUDA`` and typos locally, and sends the rest.

On a terminal, only the keyboard thread writes to the screen. While readline
waits for a key it calls ``PyOS_InputHook`` ten times a second, and there the
lines the main thread queued are printed above the line being typed, which
readline then redraws with the cursor where it was. Two threads never write to
the terminal at once, so nothing typed is lost or garbled, however many
messages arrive. With no terminal (a pipe, a script) the client prints plain
lines, without prompt or colour.

With ``--tls`` the connection is encrypted and the server's certificate
checked; the TLS session lives in memory (:class:`protocol.TlsEndpoint`) and
is only ever used under the send lock, since two threads share the connection.

Text from the network is shown with control characters escaped, never
interpreted. Colour follows https://no-color.org: off when ``NO_COLOR`` is set,
``TERM=dumb`` or the output is not a terminal.

Exit status: 0 after ``SAIR``, Ctrl-D, the end of piped input or Ctrl-C; 1 when
the server cannot be reached at start-up, or the connection ends for good
(``--no-reconnect``, or the account logged in somewhere else).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import enum
import errno
import getpass
import itertools
import os
import queue
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import protocol
from batchat import system

RECV_SIZE = 65536
SERVER_LINE_TOO_LONG = "O servidor mandou uma linha longa demais; conexão encerrada."
CONNECT_TIMEOUT = 10.0
FIRST_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 30.0
HISTORY_LENGTH = 1000
HISTORY_FILE_NAME = "historico"
LIMIT_RETRIES = 10  # piped input: times a line refused by the flood limit is sent again
LIMIT_RETRY_DELAY = 1.0  # seconds before sending it again
RECENT_PUBLIC = 1000  # public messages remembered, so a replayed history skips what was shown
ME = "eu"  # how the person's own messages are labelled
INSECURE_WARNING = (
    "ATENÇÃO: --tls-insecure: o certificado do servidor NÃO é verificado. A conexão é cifrada, "
    "mas qualquer um no caminho pode se passar pelo servidor e ler tudo, senha inclusive."
)


# --- What a line on the screen is made of --------------------------------------------


class Style(enum.Enum):
    """A tone for part of a line; the value is its ANSI SGR code."""

    PLAIN = ""
    NOTICE = "2"  # dim: presence, confirmations, server notices
    ERROR = "31"  # red
    PRIVATE = "1;35"  # bold magenta: private messages, both ways
    SENDER = "1"  # bold: who wrote a public message
    MENTION = "1;33"  # bold yellow: my own name in someone's text


Part = tuple[Style, str]


@dataclass(frozen=True)
class Shown:
    """One line for the screen, as styled parts: plain for scripts, coloured on a terminal."""

    parts: tuple[Part, ...]
    dated: bool = False  # carries its own time (history, kept messages): no arrival stamp

    @classmethod
    def of(cls, text: str, style: Style = Style.PLAIN) -> Shown:
        return cls(((style, text),))

    def plain(self) -> str:
        return "".join(text for _, text in self.parts)

    def painted(self) -> str:
        return "".join(
            f"\x1b[{style.value}m{text}\x1b[0m" if style.value and text else text
            for style, text in self.parts
        )

    def stamped(self, when: datetime.datetime) -> Shown:
        """The same line, preceded by the time as ``[14:05]`` (unless it has its own)."""
        if self.dated:
            return self
        return Shown(((Style.PLAIN, when.strftime("[%H:%M] ")), *self.parts))


def use_colour(is_terminal: bool, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (to anything but "")."""
    return is_terminal and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


# --- Time, as the person reads it ------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """The client's "now" and its time zone, in one place so that tests can fix both.

    Every time the person reads (the arrival stamp, "ontem", "visto por
    último") is computed through this, never from the machine's clock and zone
    directly: a test that renders a date passes a fixed ``now`` and ``zone``
    and gives the same answer on any day, in any time zone. ``zone`` ``None``
    is the machine's local zone.
    """

    now: Callable[[], float] = time.time
    zone: datetime.tzinfo | None = None

    def local(self, moment: float) -> datetime.datetime:
        """``moment`` (seconds since the epoch) as a date and time in this clock's zone.

        Raises ``OverflowError``, ``OSError`` or ``ValueError`` for a moment the
        platform cannot convert (Windows refuses times before 1970).
        """
        return datetime.datetime.fromtimestamp(moment, self.zone)

    def local_now(self) -> datetime.datetime:
        return self.local(self.now())


SYSTEM_CLOCK = Clock()


# --- From server lines to what the person reads ------------------------------------------


def make_visible(text: str) -> str:
    """Show control characters from the network as escapes, never interpret them.

    Another user's ESC sequence must not move our cursor or recolour our
    terminal; ``\\x1b[2J`` is printed as those characters.
    """
    return protocol.FORBIDDEN_CHARS.sub(
        lambda match: match.group().encode("unicode_escape").decode("ascii"), text
    )


def parse_visible(line: str) -> protocol.ServerLine:
    """Split a server line, with its control characters already made visible."""
    return protocol.parse_server_line(make_visible(line))


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " e " + names[-1]


def online_others(detail: str, own_name: str | None) -> list[str]:
    """The names in ``OK LISTA <detail>`` other than mine."""
    own_key = protocol.name_key(own_name) if own_name else None
    return [name for name in detail.split() if protocol.name_key(name) != own_key]


def render_ok(command: str, detail: str, own_name: str | None) -> str | None:
    """The sentence for ``OK <command> <detail>``; ``None`` if nothing needs saying."""
    match command:
        case "NOVO":
            return f"Conta {detail} criada. Agora entre com: ENTRAR {detail}"
        case "ENTRAR":
            return f"Você entrou no chat como {detail}."
        case "LISTA":
            others = online_others(detail, own_name)
            if not others:
                return "Ninguém mais está online."
            return f"Online agora: {_join_names([*others, 'você'])}."
        case "CHAT":
            name, stored = stored_recipient(detail)
            if stored:
                return f"{name} está offline: a mensagem foi guardada e será entregue quando entrar."
            return f"Mensagem privada enviada para {name}."
        case "TODOS":
            return "Mensagem enviada para todos."
        case "SAIR":
            return "Você saiu do chat. Até logo!"
        case "AJUDA":
            return None  # the INFO lines before it were the answer
        case "PING":
            return "O servidor está respondendo."
    return f"OK {command} {detail}".rstrip()


def stored_recipient(detail: str) -> tuple[str, bool]:
    """``OK CHAT <detail>``: the recipient, and whether the message was kept for later."""
    name, _, rest = detail.partition(" ")
    return name, rest == protocol.STORED


AWAY_MARK = "[enquanto você estava fora]"
HISTORY_MARK = "[histórico]"


def describe_moment(moment: float, clock: Clock, today: str = "") -> str | None:
    """When something happened, for people: ``21:14`` (prefixed by ``today`` if given)
    today, ``ontem 21:14``, ``19/11 21:14`` this year, ``19/11/2025 21:14`` before;
    ``None`` for a moment this platform cannot show."""
    try:
        then, current = clock.local(moment), clock.local_now()
    except (OverflowError, OSError, ValueError):
        return None
    hour = then.strftime("%H:%M")
    days = (current.date() - then.date()).days
    if days == 0:
        return f"{today} {hour}".lstrip()
    if days == 1:
        return f"ontem {hour}"
    if then.year == current.year:
        return then.strftime("%d/%m %H:%M")
    return then.strftime("%d/%m/%Y %H:%M")


def render_past(
    mark: str, sender_style: Style, fields: tuple[str, ...], own_name: str | None, clock: Clock
) -> Shown:
    """A message from before: ``[enquanto você estava fora] [ontem 21:14] alice: oi``."""
    sender, when, text = fields
    moment = protocol.parse_timestamp(when)
    stamp = (describe_moment(moment, clock) if moment is not None else None) or when
    return Shown(
        ((Style.NOTICE, f"{mark} [{stamp}]"), (Style.PLAIN, " "), (sender_style, f"{sender}:"),
         (Style.PLAIN, " "), *mention_parts(text, own_name)),
        dated=True,
    )


def render_account(name: str, state: str, seen: str, clock: Clock) -> Shown:
    """A ``USUARIO`` line of ``LISTA TODOS``: ``bob: offline, visto por último ontem 21:14``."""
    if state == protocol.ONLINE:
        return Shown(((Style.SENDER, f"{name}:"), (Style.PLAIN, " online agora")))
    moment = protocol.parse_timestamp(seen) if seen else None
    if moment is None:
        return Shown(((Style.SENDER, f"{name}:"), (Style.NOTICE, " offline, nunca entrou")))
    when = describe_moment(moment, clock, today="hoje") or seen
    return Shown(((Style.SENDER, f"{name}:"), (Style.NOTICE, f" offline, visto por último {when}")))


def mention_parts(text: str, own_name: str | None) -> tuple[Part, ...]:
    """``text`` with each mention of my name (a whole word, any case) marked."""
    if not own_name:
        return ((Style.PLAIN, text),)
    # Names hold letters, digits, "_", "-" and "."; a final "." is punctuation.
    mention = re.compile(rf"(?<![\w.-]){re.escape(own_name)}(?![\w-])", re.IGNORECASE)
    parts: list[Part] = []
    start = 0
    for match in mention.finditer(text):
        parts += [(Style.PLAIN, text[start:match.start()]), (Style.MENTION, match.group())]
        start = match.end()
    parts.append((Style.PLAIN, text[start:]))
    return tuple(part for part in parts if part[1])


def render_private(sender: str, recipient: str, text: str, own_name: str | None) -> Shown:
    """``bob → eu: oi``: the arrow marks a private message."""
    return Shown(((Style.PRIVATE, f"{sender} → {recipient}:"), (Style.PLAIN, " "),
                  *mention_parts(text, own_name)))


def render_public(sender: str, text: str, own_name: str | None) -> Shown:
    """``bob: oi``."""
    return Shown(((Style.SENDER, f"{sender}:"), (Style.PLAIN, " "), *mention_parts(text, own_name)))


def render_parsed(
    parsed: protocol.ServerLine, own_name: str | None, clock: Clock = SYSTEM_CLOCK
) -> Shown | None:
    """What the person reads for a line :func:`parse_visible` split; ``None`` for nothing.

    ``clock`` says what "today" and "ontem" are relative to, and in which zone.
    """
    match parsed.kind, parsed.fields:
        case "OK", (command, detail):
            text = render_ok(command, detail, own_name)
            return None if text is None else Shown.of(text, Style.NOTICE)
        case "ERRO", (_, text):
            return Shown.of(f"Erro: {text}", Style.ERROR)
        case "MSG", (sender, text):
            return render_private(sender, ME, text, own_name)
        case "TODOS", (sender, text):
            return render_public(sender, text, own_name)
        case "ENTROU", (name,):
            return Shown.of(f"-- {name} entrou no chat.", Style.NOTICE)
        case "SAIU", (name,):
            return Shown.of(f"-- {name} saiu do chat.", Style.NOTICE)
        case "PENDENTE", fields:
            return render_past(AWAY_MARK, Style.PRIVATE, fields, own_name, clock)
        case "HISTORICO", fields:
            return render_past(HISTORY_MARK, Style.SENDER, fields, own_name, clock)
        case "USUARIO", (name, state, seen):
            return render_account(name, state, seen, clock)
        case _, fields:
            return Shown.of(" ".join(fields), Style.NOTICE)


def render(line: str, own_name: str | None, clock: Clock = SYSTEM_CLOCK) -> str | None:
    """The plain text the person reads for one server line; ``None`` to print nothing."""
    shown = render_parsed(parse_visible(line), own_name, clock)
    return None if shown is None else shown.plain()


def render_echo(
    command: protocol.PrivateMessage | protocol.Broadcast, recipient: str | None = None
) -> Shown:
    """My own message, as others see it: ``eu → bob: oi`` or ``eu: oi``.

    ``recipient`` is the detail the server confirmed it with (``OK CHAT Bob``), if
    known; a message kept for someone offline says so (``OK CHAT Bob GUARDADA``).
    """
    text = make_visible(command.text)
    if not isinstance(command, protocol.PrivateMessage):
        return render_public(ME, text, None)
    name, stored = stored_recipient(recipient or command.recipient)
    shown = render_private(ME, name, text, None)
    if stored:
        return Shown((*shown.parts, (Style.NOTICE, f"  (guardada até {name} entrar)")))
    return shown


def help_text() -> list[str]:
    """The client's ``AJUDA``: one aligned row per command, with an example; fits 80 columns."""
    helps = protocol.COMMAND_HELP.values()
    syntax_width = max(len(help.syntax) for help in helps)
    meaning_width = max(len(help.meaning) for help in helps)
    return [
        f"  {'comando':<{syntax_width}}  {'para quê':<{meaning_width}}  exemplo",
        *(
            f"  {help.syntax:<{syntax_width}}  {help.meaning:<{meaning_width}}  {help.example}"
            for help in helps
        ),
        "Maiúsculas ou minúsculas, tanto faz. ? também mostra esta ajuda.",
        "Em NOVO e ENTRAR, deixe a senha de fora para digitá-la sem que apareça.",
        "Tab completa comandos e nomes de quem está online; ↑ e ↓ percorrem o histórico.",
    ]


# --- From what the person types to what is sent ------------------------------------------


@dataclass(frozen=True)
class Send:
    """A valid command: send the line as typed."""

    line: str
    command: protocol.Command


@dataclass(frozen=True)
class AskPassword:
    """``NOVO alice`` or ``ENTRAR alice``: ask for the password, hidden, then send."""

    word: str  # "NOVO" or "ENTRAR"
    name: str


@dataclass(frozen=True)
class ShowHelp:
    """``AJUDA`` or ``?``: answered by the client itself, with examples."""


@dataclass(frozen=True)
class Refuse:
    """A line the server would refuse anyway: say why here, send nothing."""

    text: str


Typed = Send | AskPassword | ShowHelp | Refuse

PASSWORD_COMMANDS = ("NOVO", "ENTRAR")
_FIRST_WORD_RE = re.compile(r"(\S*)\s*(.*)", re.DOTALL)


def _split_first(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest, whatever whitespace separates them."""
    match = _FIRST_WORD_RE.match(text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def _command_word(word: str) -> str:
    """``word`` as a command word: upper case, for ASCII words only (as the server does)."""
    return word.upper() if word.isascii() else word


def tidy_typed(line: str) -> str:
    """The line as it will be sent: one space between the command word and each name.

    A tab or a no-break space (Alt+Space on a Mac keyboard) after ``CHAT``
    would make the server see an unknown command; a ``\r`` left by CRLF input
    would make the last word wrong. A message keeps its text exactly.
    """
    word, rest = _split_first(line.removesuffix("\r").lstrip())
    match _command_word(word):
        case "TODOS":
            return f"{word} {rest}" if rest else word
        case "CHAT":
            name, text = _split_first(rest)
            return " ".join(part for part in (word, name, text) if part)
    return " ".join(line.split())


def interpret(line: str, can_prompt: bool) -> Typed | None:
    """Decide what to do with one typed line; ``None`` for a blank line.

    The client checks with the protocol module the server uses, so a typo gets
    its hint at once; what only the server knows (who is online, passwords) it
    still decides.
    """
    line = tidy_typed(line)
    if not line:
        return None
    words = line.split(" ")
    word = _command_word(words[0])
    if word in ("?", "AJUDA") and len(words) == 1:
        return ShowHelp()
    if can_prompt and word in PASSWORD_COMMANDS and len(words) == 2:
        try:
            return AskPassword(word, protocol.validate_name(words[1]))
        except protocol.ProtocolError as error:
            return Refuse(f"Erro: {error.text}")
    if len(protocol.encode_line(line)) > protocol.DEFAULT_MAX_LINE:
        return Refuse(
            f"Erro: linha longa demais (o máximo é {protocol.DEFAULT_MAX_LINE - 1} bytes); "
            "não foi enviada."
        )
    try:
        command = protocol.parse_command(line)
    except protocol.ProtocolError as error:
        if error.code is not protocol.ErrorCode.UNKNOWN_COMMAND:
            return Refuse(f"Erro: {error.text}")
        return Refuse(unknown_command_hint(words[0]))
    return None if command is None else Send(line, command)


def unknown_command_hint(word: str) -> str:
    """What to say about a word that is no command; the rest of the line is never repeated,
    because a mistyped ``ENTRAR`` may be followed by a password."""
    unknown = f"Comando desconhecido: {make_visible(word[:protocol.MAX_NAME_LENGTH])}."
    if suggestion := protocol.closest_command(word):
        return f"{unknown} Você quis dizer {suggestion}?"
    return f"{unknown} Para falar com todos: TODOS <mensagem>. AJUDA mostra os comandos."


def history_entry(line: str) -> str | None:
    """What history keeps of a typed line, never a password; ``None`` to keep nothing.

    ``ENTRAR alice s3nh4`` is kept as ``ENTRAR alice``; recalled, it asks for
    the password again. A line whose first word is no command is not kept at
    all: it may be a mistyped ``ENTRAR`` (``ENTRARbob s3nh4``, ``LOGIN bob
    s3nh4``) followed by a password.
    """
    line = tidy_typed(line)
    words = line.split(" ")
    word = _command_word(words[0])
    if word in PASSWORD_COMMANDS:
        return " ".join(words[:2])
    if word in protocol.COMMAND_WORDS or word == "?":
        return line
    return None


def completions(line: str, begin: int, text: str, online: Iterable[str]) -> list[str]:
    """Tab's candidates for ``text``, the word starting at ``begin`` in ``line``.

    The first word completes to a command; any other word to the name of
    someone online, ignoring case.
    """
    if not line[:begin].strip():
        upper = text.upper()
        return [f"{word} " for word in protocol.COMMAND_WORDS if word.startswith(upper)]
    key = protocol.name_key(text)
    return sorted(f"{name} " for name in online if protocol.name_key(name).startswith(key))


def retry_delays() -> Iterator[float]:
    """Seconds to wait before each reconnection attempt: 1, 2, 4 ... then 30 for ever."""
    delay = FIRST_RETRY_DELAY
    while True:
        yield delay
        delay = min(delay * 2, MAX_RETRY_DELAY)


# What the person reads when the network fails: the system's own text is in English.
_OS_ERRORS_PT = {
    errno.ECONNREFUSED: "conexão recusada",
    errno.ECONNRESET: "conexão interrompida pelo servidor",
    errno.ECONNABORTED: "conexão interrompida",
    errno.ETIMEDOUT: "tempo esgotado",
    errno.EHOSTUNREACH: "endereço inalcançável",
    errno.ENETUNREACH: "rede inalcançável",
    errno.EPIPE: "conexão fechada",
    errno.ENOTCONN: "sem conexão",
}


def describe_os_error(error: OSError) -> str:
    """A short Portuguese reason for a network error."""
    if isinstance(error, socket.timeout):
        return "tempo esgotado"
    if isinstance(error, socket.gaierror):
        return "endereço não encontrado"
    return _OS_ERRORS_PT.get(error.errno or 0) or error.strerror or str(error)


def connect_problem(host: str, port: int, error: OSError) -> str:
    """Why the first connection failed, and what to check, in Portuguese."""
    if isinstance(error, socket.gaierror):
        return (
            f"Não foi possível encontrar o servidor {host}: não é um IP nem um nome conhecido "
            "(ou este computador está sem rede). Confira o --host, por exemplo: "
            "python3 cliente.py --host 192.168.0.10"
        )
    return (
        f"Não foi possível conectar a {protocol.format_address(host, port)} "
        f"({describe_os_error(error)}).\n"
        "Verifique se o servidor está rodando (python3 servidor.py) "
        "e se o endereço e a porta estão certos (--host, --port)."
    )


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes as readline shows it.

    Wide East Asian characters take 2, combining marks 0, and a control
    character 2 (readline shows Ctrl-A as ``^A``).
    """
    return sum(
        0 if unicodedata.combining(char)
        else 2 if unicodedata.east_asian_width(char) in "WF" or char < " " or char == "\x7f"
        else 1
        for char in text
    )


# --- History file -----------------------------------------------------------------------


def history_path(environ: dict[str, str] | os._Environ[str]) -> Path:
    """``$XDG_STATE_HOME/batchat/historico``, by default under ``~/.local/state``."""
    state = environ.get("XDG_STATE_HOME")
    if not state:
        state = str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state) / "batchat" / HISTORY_FILE_NAME


class InputHistory:
    """Lines typed before, for ↑ and ↓, kept across runs in a file only its owner can read."""

    def __init__(self, path: Path, readline_module: Any, warn: Callable[[str], None]) -> None:
        self._path = path
        self._readline = readline_module
        self._warn = warn
        self._last: str | None = None
        self._warned = False

    def load(self) -> None:
        """Read the file into readline's history, dropping anything that may hold a password."""
        try:
            os.chmod(self._path, 0o600)  # a file made by hand, or by an older client
            text = self._path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        except OSError as error:
            self._problem("ler", error)
            return
        # split("\n"), not splitlines(): a typed line may hold other line breaks.
        lines = text.removesuffix("\n").split("\n") if text else []
        kept = (history_entry(line) for line in lines if line.strip())
        entries = [entry for entry in kept if entry is not None][-HISTORY_LENGTH:]
        for entry in entries:
            self._readline.add_history(entry)
        self._last = entries[-1] if entries else None
        if entries != lines:  # trim it, and heal a file an older client wrote
            self._write_all(entries)

    def add(self, line: str) -> None:
        """Remember a typed line (without its password), unless it repeats the last one."""
        entry = history_entry(line)
        if entry is None or not entry.strip() or entry == self._last:
            return
        self._last = entry
        self._readline.add_history(entry)
        self._append(entry)

    def _problem(self, verb: str, error: OSError) -> None:
        """Say once that the file cannot be used; history still works for this run."""
        if not self._warned:
            self._warned = True
            self._warn(f"Não foi possível {verb} o histórico {self._path}: {error.strerror or error}")

    def _append(self, entry: str) -> None:
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with open(descriptor, "a", encoding="utf-8", errors="surrogateescape") as file:
                file.write(entry + "\n")
        except OSError as error:
            self._problem("gravar", error)

    def _write_all(self, entries: list[str]) -> None:
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", encoding="utf-8", errors="surrogateescape") as file:
                file.writelines(entry + "\n" for entry in entries)
            os.replace(temporary, self._path)
        except OSError as error:
            self._problem("gravar", error)


# --- The screen ---------------------------------------------------------------------------


class PlainScreen:
    """Output for pipes and scripts: each line printed as it comes, no prompt."""

    def __init__(self, colour: bool) -> None:
        self._colour = colour
        self._lock = threading.Lock()  # one line at a time, from either thread
        self.broken = threading.Event()  # output can no longer be written (a closed pipe)

    def show(self, shown: Shown) -> None:
        text = shown.painted() if self._colour else shown.plain()
        with self._lock:
            self._write(text + "\n")

    def say(self, text: str, style: Style = Style.PLAIN) -> None:
        """A line of the client's own (not from the server)."""
        self.show(Shown.of(text, style))

    def flush(self) -> None:
        """Print what is waiting (nothing waits here)."""

    def read_line(self) -> str:
        return input()

    def set_prompt(self, prompt: str) -> None:
        """There is no prompt without a terminal."""

    def finish(self) -> None:
        """Leave the terminal as it was found (nothing to do here)."""

    def _write(self, text: str) -> None:
        """Write and flush; a closed pipe or a vanished terminal sets :attr:`broken`."""
        if self.broken.is_set():
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:
            self.broken.set()


class TerminalScreen(PlainScreen):
    """A prompt with readline, and pushes printed above the line being typed.

    Lines to show are queued. Only the keyboard thread prints them: between
    two lines typed (:meth:`flush`), or from readline's input hook while a line
    is being typed (:meth:`_print_above_input`). Without the hook (a readline
    without the functions it needs, such as libedit), the receiving thread
    prints them itself and rewrites the prompt after them, cursor at the end.
    """

    def __init__(self, colour: bool, readline_module: Any) -> None:
        super().__init__(colour)
        self._readline = readline_module
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._prompt = "> "
        self._shown_prompt = self._prompt  # the prompt on screen now
        self._prompt_changed = False
        self._moves_cursor = os.environ.get("TERM") != "dumb"
        self._restore_terminal = system.terminal_restorer(sys.stdin.fileno())
        self._redraw = ReadlineRedraw.load(readline_module)
        if self._redraw is not None:
            self._redraw.install_hook(self._print_above_input)

    def show(self, shown: Shown) -> None:
        self._queue.put(shown.painted() if self._colour else shown.plain())
        if self._redraw is None:  # no hook: print at once, and redraw as well as we can
            self._print_above_input()

    def set_prompt(self, prompt: str) -> None:
        with self._lock:
            self._prompt_changed |= prompt != self._prompt
            self._prompt = prompt

    def flush(self) -> None:
        with self._lock:
            self._write_queued()

    def read_line(self) -> str:
        """Read one line with readline; afterwards, erase it (the reply says what happened)."""
        self.flush()
        with self._lock:
            prompt = self._shown_prompt = self._prompt
            self._prompt_changed = False
        line = input(prompt)
        with self._lock:
            self._erase_typed(self._shown_prompt + line)
        return line

    def finish(self) -> None:
        """Give the terminal back as it was, then print what is left below the prompt."""
        if self._redraw is not None:
            self._redraw.remove_hook()
        with self._lock:
            try:
                self._restore_terminal()
            except OSError:
                self.broken.set()  # the terminal is gone (window closed): nothing to give back
            self._write("\r\x1b[K" if self._moves_cursor else "\n")
            self._write_queued()

    def _write_queued(self) -> None:
        lines = []
        while True:
            try:
                lines.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if lines:
            self._write("".join(line + "\n" for line in lines))

    def _print_above_input(self) -> None:
        """Clear the line being typed, print the queue, redraw prompt and text (the hook)."""
        if self._queue.empty() and not self._prompt_changed:
            return
        with self._lock:
            if self._redraw is None:
                self._write("\r\x1b[K")
                self._write_queued()
                self._write(self._shown_prompt + self._readline.get_line_buffer())
                return
            self._redraw.clear_input()
            try:
                self._write_queued()
            finally:  # whatever happened above, the person gets their line back
                if self._prompt_changed:
                    self._redraw.set_prompt(self._prompt)
                    self._shown_prompt = self._prompt
                    self._prompt_changed = False
                self._redraw.redraw_input()

    def _erase_typed(self, echoed: str) -> None:
        """Remove the typed line (all the rows it wrapped onto) that readline left on screen."""
        if not self._moves_cursor:
            return
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns or 80
        except OSError:
            return
        # readline wraps a line that fills the last column too, so this is
        # also right when the width divides evenly.
        rows = display_width(echoed) // columns + 1
        self._write(f"\x1b[{rows}A\r\x1b[J")


class ReadlineRedraw:
    """The few GNU readline calls the ``readline`` module does not offer, through ctypes.

    All of them run in the thread that is inside ``input()``, from
    ``PyOS_InputHook``, between two keys: readline's state is consistent then,
    and no other thread touches it.
    """

    _HOOK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int)

    def __init__(self, library: ctypes.CDLL) -> None:
        self._library = library
        self._libc = ctypes.CDLL(None)
        self._hook: object = None  # kept alive for the life of the process: C may call it
        self._hook_pointer = ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")

    @classmethod
    def load(cls, readline_module: Any) -> ReadlineRedraw | None:
        """``None`` when readline is not GNU readline 7 or newer (e.g. libedit)."""
        try:
            library = ctypes.CDLL(readline_module.__file__)
            for name in ("rl_clear_visible_line", "rl_forced_update_display", "rl_set_prompt"):
                getattr(library, name)
            ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")
        except (AttributeError, OSError, ValueError):
            return None
        library.rl_set_prompt.argtypes = [ctypes.c_char_p]
        return cls(library)

    def install_hook(self, callback: Callable[[], None]) -> None:
        """Have readline call ``callback()`` between keys, about every 100 ms."""

        def hook() -> int:
            try:
                callback()
            except Exception as error:  # never let an exception unwind into C
                sys.stderr.write(f"\r\nErro ao mostrar mensagens: {error}\r\n")
            return 0

        self._hook = self._HOOK_TYPE(hook)
        self._hook_pointer.value = ctypes.cast(self._hook, ctypes.c_void_p).value

    def remove_hook(self) -> None:
        """No more calls (one already running finishes; its callback object stays alive)."""
        self._hook_pointer.value = None

    def clear_input(self) -> None:
        """Erase every screen row the prompt and the typed text occupy; cursor to column 0."""
        self._library.rl_clear_visible_line()
        self._libc.fflush(None)  # readline writes through C stdio, we through Python

    def set_prompt(self, prompt: str) -> None:
        self._library.rl_set_prompt(prompt.encode(sys.stdout.encoding or "utf-8", "replace"))

    def redraw_input(self) -> None:
        """Draw prompt and typed text again on a fresh line, cursor where it was."""
        self._library.rl_forced_update_display()


# --- The connection -----------------------------------------------------------------------


class Link:
    """The connection to the server: a socket, with TLS over it when asked for.

    Both threads use it: the main thread receives, either thread sends. An
    SSL session must never be used by two threads at once (see
    :class:`protocol.TlsEndpoint`), so every use of it happens under the
    client's one send lock: :meth:`send` is called with it held, and
    :meth:`receive` takes it once bytes have arrived.
    """

    def __init__(
        self, sock: socket.socket, tls: protocol.TlsEndpoint | None = None, early: bytes = b""
    ) -> None:
        self.sock = sock
        self._tls = tls
        self._early = early  # plaintext that came with the end of the TLS handshake

    @property
    def description(self) -> str:
        """How the connection is protected, for the banner: ``" com TLSv1.3"`` or nothing."""
        return "" if self._tls is None else f" com {self._tls.version}"

    def receive(self, send_lock: threading.Lock) -> bytes | None:
        """The server's next bytes, decrypted if need be (``b""``: half a TLS record);
        ``None`` once it closed the connection. Waits without ``send_lock``, and
        takes it to use the TLS session."""
        if self._early:
            early, self._early = self._early, b""
            return early
        data = self.sock.recv(RECV_SIZE)
        if not data:
            return None
        if self._tls is None:
            return data
        with send_lock:
            plaintext, reply = self._tls.decrypt(data)
            if reply:
                self.sock.sendall(reply)
        return plaintext

    def send(self, data: bytes) -> None:
        """Send ``data`` whole. Call with the send lock held."""
        self.sock.sendall(data if self._tls is None else self._tls.encrypt(data))

    def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


class TlsRefused(Exception):
    """The TLS handshake failed; the text says why, in Portuguese."""


def open_link(address: tuple[str, int], tls: ssl.SSLContext | None) -> Link:
    """Connect, and with ``tls`` complete the handshake, all within CONNECT_TIMEOUT.

    Raises ``OSError`` when the server cannot be reached, :class:`TlsRefused`
    when it is reached but the TLS session cannot be set up.
    """
    deadline = time.monotonic() + CONNECT_TIMEOUT
    sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
    try:
        link = Link(sock) if tls is None else _handshake(sock, tls, address[0], deadline)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)  # pushes may come at any time: wait for them
    return link


def _handshake(sock: socket.socket, context: ssl.SSLContext, host: str, deadline: float) -> Link:
    endpoint = protocol.TlsEndpoint(context, server_side=False, server_hostname=host)

    def receive() -> bytes:
        # One deadline for the whole handshake: a server that trickles bytes cannot stall us.
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(RECV_SIZE)
        if not data:
            raise TlsRefused("o servidor fechou a conexão durante o handshake TLS")
        return data

    try:
        endpoint.complete_handshake(sock.sendall, receive)
        early = endpoint.read() or b""  # the greeting may have come with the server's last flight
    except ssl.SSLCertVerificationError as error:
        with contextlib.suppress(OSError):  # the alert, so the server's log says why
            sock.sendall(endpoint.take_output())
        raise TlsRefused(
            f"o certificado do servidor não foi aceito ({error.verify_message}). "
            "Se o servidor usa um certificado próprio, indique-o com --cafile."
        ) from None
    except ssl.SSLError as error:
        raise TlsRefused(
            f"o servidor não completou o TLS ({error.reason or error}); "
            "ele usa TLS? Sem --tls o cliente conecta em texto puro."
        ) from None
    return Link(sock, endpoint, early)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's TLS settings from the options; ``None`` without TLS."""
    if args.tls_insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif args.tls or args.cafile:
        context = ssl.create_default_context(cafile=args.cafile)
    else:
        return None
    context.minimum_version = protocol.TLS_MINIMUM_VERSION
    return context


# --- The client ---------------------------------------------------------------------------


PublicKey = tuple[str, str]  # (sender's name key, text): a public message, as far as we can tell


def public_key(sender: str, text: str) -> PublicKey:
    return protocol.name_key(sender), text


def replay_overlap(shown: list[PublicKey], replayed: list[PublicKey]) -> int:
    """How many of the history lines replayed at a re-login were shown already.

    The replay is the newest stretch of the public messages, and what was
    shown is an older stretch of them; so the answer is the longest start of
    ``replayed`` that is also the end of ``shown``. Matching stretches, not
    single lines, keeps a new "oi" that repeats an old one.
    """
    for count in range(min(len(shown), len(replayed)), 0, -1):
        if replayed[:count] == shown[-count:]:
            return count
    return 0


class Sent:
    """A command sent and not yet answered; the server answers each one, in order."""

    def __init__(self, command: protocol.Command, *, automatic: bool = False) -> None:
        self.command = command
        self.automatic = automatic  # sent by the client itself (log in again, LISTA after login)
        self.outcome: str | None = None  # "OK", or the ERRO code, once answered


class ChatClient:
    """One person's session: the connection (and its replacements), the keyboard, the screen."""

    def __init__(
        self,
        address: tuple[str, int],
        screen: PlainScreen,
        *,
        interactive: bool,
        reconnect: bool,
        can_prompt: bool | None = None,
        history: InputHistory | None = None,
        tls: ssl.SSLContext | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._address = address
        self._clock = clock
        self._screen = screen
        self._interactive = interactive  # a person at a terminal: completion, LISTA on login
        self._can_prompt = interactive if can_prompt is None else can_prompt  # hidden passwords
        # Typed lines from a pipe wait for each answer: output in input order,
        # and a long script paced by the server's flood limit, not refused by it.
        self._lockstep = not self._can_prompt
        self._reconnect = reconnect
        self._history = history
        # One sender at a time; guards _link (and its TLS session) and _pending.
        self._send_lock = threading.Lock()
        self._answered = threading.Condition(self._send_lock)  # a command got its answer
        self._tls = tls
        self._link: Link | None = None
        self._pending: deque[Sent] = deque()
        self._own_name: str | None = None
        self._credentials: protocol.Login | None = None  # the last login that worked; memory only
        self._retry_delays: Iterator[tuple[float, float]] | None = None  # during an outage
        # Replaced, never mutated: the completer reads it from the keyboard thread.
        self._online: frozenset[str] = frozenset()
        self._quitting = threading.Event()  # the person asked to leave
        self._said_goodbye = False  # the server answered OK SAIR
        self._replaced = False  # the account logged in elsewhere: do not fight over it
        self._greeted = threading.Event()  # the server's first line was shown
        # Public messages shown, so the history replayed after a re-login is not shown twice.
        self._public_shown: deque[PublicKey] = deque(maxlen=RECENT_PUBLIC)
        self._replay: list[tuple[PublicKey, Shown | None]] | None = None  # held during a replay

    # -- main thread -------------------------------------------------------------------------

    def run(self, link: Link) -> int:
        """Serve the session until the person leaves or it ends for good; the exit status."""
        self._attach(link)
        keyboard = threading.Thread(target=self._read_keyboard, name="teclado", daemon=True)
        keyboard.start()
        try:
            while True:
                ended = self._receive_until_closed()
                if self._screen.broken.is_set():
                    self._leave_now()
                    return 1
                if self._quitting.is_set():
                    return self._quit_status(ended)
                self._connection_lost(ended)
                if self._replaced or not self._reconnect or self._credentials is None:
                    return 1
                if not self._wait_and_reconnect():
                    return 0  # the person left while we waited
        except KeyboardInterrupt:
            self._leave_now()
            self._screen.say("Até logo!", Style.NOTICE)
            return 0
        finally:
            self._detach()

    def _leave_now(self) -> None:
        """Ctrl-C, kill or a closed output: say SAIR if possible and go, whatever comes next."""
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        self._quitting.set()
        # Bounded: against a frozen server the keyboard thread may hold the lock in sendall().
        if self._send_lock.acquire(timeout=1.0):
            try:
                self._send_locked(Sent(protocol.Quit()), "SAIR")
            finally:
                self._send_lock.release()

    def _attach(self, link: Link) -> None:
        with self._send_lock:
            self._link = link

    def _detach(self) -> list[Sent]:
        """Forget the connection; return what was sent on it and never answered."""
        with self._send_lock:
            link, self._link = self._link, None
            unanswered = list(self._pending)
            self._pending.clear()
            self._answered.notify_all()
        if link is not None:
            link.close()
        return unanswered

    def _receive_until_closed(self) -> str:
        """Show every line until the connection ends; say how it ended."""
        link = self._link
        assert link is not None
        # Bounded: a hostile server (or anyone in the middle of a plaintext
        # connection) could otherwise grow this process with one endless line.
        framer = protocol.LineFramer(protocol.MAX_SERVER_LINE)
        while True:
            try:
                data = link.receive(self._send_lock)
            except OSError as error:  # ssl.SSLError too: a corrupted or forged record
                return f"A conexão com o servidor caiu ({describe_os_error(error)})."
            if data is None:
                return "O servidor encerrou a conexão."
            try:
                lines = framer.feed(data)
            except protocol.FramingError:
                return SERVER_LINE_TOO_LONG
            for raw in lines:
                if not isinstance(raw, bytes):  # no server sends that: replies would be out of step
                    return SERVER_LINE_TOO_LONG
                self._handle(raw.decode(protocol.ENCODING, errors="replace"))
            if self._screen.broken.is_set():
                return "A saída foi fechada."

    def _handle(self, line: str) -> None:
        self._greeted.set()
        parsed = parse_visible(line)
        if self._replay is not None and parsed.kind not in ("PENDENTE", "INFO", "HISTORICO"):
            self._end_replay()  # after OK ENTRAR come PENDENTE, INFO, HISTORICO, then the rest
        shown = render_parsed(parsed, self._own_name, self._clock)
        match parsed.kind, parsed.fields:
            case "OK", (word, detail):
                shown = self._answered_ok(word, detail, shown)
            case "ERRO", (code, text):
                if shown is not None:
                    self._show(shown)  # the error first, then what the client makes of it
                    shown = None
                self._refused(code, text)
            case "ENTROU", (name,):
                self._online = self._online | {name}
            case "SAIU", (name,):
                self._online = self._online - {name}
            case "TODOS", (sender, text):
                self._public_shown.append(public_key(sender, text))
            case "HISTORICO", (sender, _, text) if self._replay is not None:
                self._replay.append((public_key(sender, text), shown))
                shown = None  # held until the replay ends: some of it was shown already
            case "HISTORICO", (sender, _, text):
                self._public_shown.append(public_key(sender, text))
        if shown is not None:
            self._show(shown)

    def _end_replay(self) -> None:
        """The history replayed after an automatic re-login is over: show what is new."""
        replay, self._replay = self._replay or [], None
        skip = replay_overlap(list(self._public_shown), [key for key, _ in replay])
        for key, shown in replay[skip:]:
            self._public_shown.append(key)
            if shown is not None:
                self._show(shown)

    def _answered_ok(self, word: str, detail: str, shown: Shown | None) -> Shown | None:
        """``OK <word> <detail>``: settle the command it answers; what to show instead, if anything."""
        sent = self._settle(word, "OK")
        command = sent.command if sent else None
        match command:
            case protocol.Login():
                self._own_name = detail
                self._credentials = command
                self._retry_delays = None  # back in: the next outage starts again at 1 s
                self._screen.set_prompt(f"{detail}> ")
                if self._interactive:  # names for Tab; and who is here, for the person
                    self._send(Sent(protocol.ListUsers(), automatic=True), "LISTA")
                if sent and sent.automatic:
                    # Back after a drop: the history replayed next was partly shown
                    # already; hold it until its end, which the answer to PING marks.
                    self._replay = []
                    self._send(Sent(protocol.Ping(), automatic=True), "PING")
                    return Shown.of(f"De volta ao chat como {detail}.", Style.NOTICE)
            case protocol.ListUsers(everyone=False):
                self._online = frozenset(online_others(detail, self._own_name))
            case protocol.ListUsers(everyone=True):
                return None  # the USUARIO lines before it were the answer
            case protocol.PrivateMessage() | protocol.Broadcast():
                if isinstance(command, protocol.Broadcast) and self._own_name:
                    self._public_shown.append(public_key(self._own_name, make_visible(command.text)))
                return render_echo(command, detail)
            case protocol.Ping() if sent and sent.automatic:
                return None  # it only marks the end of the replayed history
            case protocol.Quit():
                self._said_goodbye = True
        return shown

    def _settle(self, word: str, outcome: str) -> Sent | None:
        """Mark the oldest unanswered command called ``word`` (any, if ``word`` is empty)
        answered; older ones must have been refused without a reply."""
        with self._send_lock:
            while self._pending:
                sent = self._pending.popleft()
                if not word or protocol.command_word(sent.command) == word:
                    sent.outcome = outcome
                    self._answered.notify_all()
                    return sent
                sent.outcome = "?"
            self._answered.notify_all()
        return None

    def _refused(self, code: str, text: str) -> None:
        """``ERRO``: it answers the oldest command, unless the server is closing on us."""
        if code == protocol.ErrorCode.SESSION_REPLACED:
            self._replaced = True
            return
        sent = self._settle("", code)
        if sent is None or not sent.automatic or not isinstance(sent.command, protocol.Login):
            return
        name = sent.command.name
        if code == protocol.ErrorCode.CREDENTIALS:
            self._credentials = None
            self._screen.say(
                f"Não foi possível entrar de novo como {name}; entre com ENTRAR {name}.", Style.ERROR
            )
            return
        self._screen.say(f"Não foi possível entrar de novo como {name} agora; tentando mais tarde.")
        self._hang_up()  # the reconnect loop tries again, after a longer wait

    def _hang_up(self) -> None:
        with self._send_lock:
            if self._link is not None:
                try:
                    self._link.shutdown()
                except OSError:
                    return  # already disconnected: the receive loop is ending anyway

    def _report_unanswered(self) -> None:
        for sent in self._detach():
            if isinstance(sent.command, (protocol.PrivateMessage, protocol.Broadcast)):
                self._show(Shown((
                    (Style.ERROR, "Sem confirmação do servidor; talvez não tenha chegado: "),
                    *render_echo(sent.command).parts,
                )))

    def _quit_status(self, ended: str) -> int:
        """The person asked to leave and the connection ended: 0 if the server said goodbye."""
        if self._said_goodbye:
            return 0
        self._report_unanswered()
        self._screen.say(f"{ended} Sem confirmação do SAIR.", Style.ERROR)
        return 1

    def _connection_lost(self, how: str) -> None:
        self._report_unanswered()
        self._replay = None  # the next login replays it all again
        self._own_name = None
        self._online = frozenset()
        self._screen.set_prompt("> ")
        self._screen.say(how, Style.ERROR)
        if self._replaced:
            self._screen.say("Sua conta entrou em outro lugar; este cliente não vai reconectar.")
        elif self._reconnect and self._credentials is None:
            self._screen.say("Para voltar, rode o cliente de novo.")
        elif self._reconnect:
            self._screen.say(
                "Tentando reconectar (1, 2, 4... até 30 s entre tentativas; Ctrl-C para sair)."
            )

    def _wait_and_reconnect(self) -> bool:
        """Reconnect with backoff and log back in; ``False`` if the person left first.

        The waits keep growing until a login works again, so a server that
        accepts and at once closes is not hammered every second.
        """
        where = protocol.format_address(*self._address)
        if self._retry_delays is None:
            self._retry_delays = itertools.pairwise(retry_delays())
        for delay, next_delay in self._retry_delays:
            if self._quitting.wait(delay):
                return False
            try:
                link = open_link(self._address, self._tls)
            except (OSError, TlsRefused) as error:
                reason = str(error) if isinstance(error, TlsRefused) else describe_os_error(error)
                self._screen.say(
                    f"Ainda sem conexão com {where} ({reason}); nova tentativa em {next_delay:g} s.",
                    Style.NOTICE,
                )
                continue
            if not self._attach_and_log_in(link):
                return False
            self._screen.say(f"Conexão com {where} restabelecida.", Style.NOTICE)
            return True
        raise AssertionError("retry_delays() never ends")

    def _attach_and_log_in(self, link: Link) -> bool:
        """Use ``link`` and send the automatic ENTRAR first, in one step: a line typed
        meanwhile goes after it. ``False`` (link closed) if the person left meanwhile."""
        with self._send_lock:
            if self._quitting.is_set():
                link.close()
                return False
            self._link = link
            login = self._credentials
            if login is not None:
                self._send_locked(
                    Sent(login, automatic=True), f"ENTRAR {login.name} {login.password}"
                )
        return True

    def _show(self, shown: Shown) -> None:
        self._screen.show(shown.stamped(self._clock.local_now()))

    # -- both threads ---------------------------------------------------------------------

    def _send(self, sent: Sent, line: str) -> bool:
        """Send one line; ``False`` when there is no connection to send it on."""
        with self._send_lock:
            return self._send_locked(sent, line)

    def _send_locked(self, sent: Sent, line: str) -> bool:
        if self._link is None:
            return False
        self._pending.append(sent)
        # A failed send needs no handling here: the receiving loop sees the
        # connection end and reports this command among the unconfirmed ones.
        with contextlib.suppress(OSError):
            self._link.send(protocol.encode_line(line))
        return True

    # -- keyboard thread -------------------------------------------------------------------

    def _read_keyboard(self) -> None:
        """Handle each typed line until SAIR; at the end of input (Ctrl-D, a pipe's end) leave."""
        if self._lockstep:  # the greeting first, so that output always comes in one order
            self._greeted.wait(CONNECT_TIMEOUT)
        try:
            while not self._quitting.is_set():
                self._handle_typed(self._screen.read_line())
                self._screen.flush()
            return
        except EOFError:
            self._screen.flush()  # Ctrl-D or the end of a pipe: leave politely
        except Exception as error:  # never leave the person with a silent, stuck client
            self._screen.say(f"Erro ao ler o teclado: {error}", Style.ERROR)
        self._quitting.set()  # also wakes the main thread if it waits to reconnect
        self._send(Sent(protocol.Quit()), "SAIR")

    def _handle_typed(self, line: str) -> None:
        try:
            line.encode(protocol.ENCODING)
        except UnicodeEncodeError:  # bytes that were not UTF-8 on stdin, kept as surrogates
            self._screen.say("Essa linha tem caracteres inválidos (não é UTF-8) e não foi enviada.")
            return
        if self._history is not None:
            self._history.add(line)
        match interpret(line, can_prompt=self._can_prompt):
            case None:
                return
            case ShowHelp():
                for text in help_text():
                    self._screen.say(text)
            case Refuse(text=text):
                self._screen.say(text, Style.ERROR)
            case AskPassword(word=word, name=name):
                self._ask_password_and_send(word, name)
            case Send(line=line, command=command):
                self._send_typed(command, line)

    def _send_typed(self, command: protocol.Command, line: str) -> None:
        if isinstance(command, protocol.Quit):
            self._quitting.set()
        for attempt in range(LIMIT_RETRIES + 1):
            sent = Sent(command)
            if not self._send(sent, line):
                if not isinstance(command, protocol.Quit):  # else the main thread sees _quitting
                    self._screen.say(
                        "Sem conexão com o servidor; a linha não foi enviada "
                        "(↑ a traz de volta depois).",
                        Style.ERROR,
                    )
                return
            if not self._lockstep or self._wait_for_answer(sent) != protocol.ErrorCode.LIMIT:
                return
            # A script faster than the server's flood limit: wait, then send it again.
            if attempt < LIMIT_RETRIES and self._quitting.wait(LIMIT_RETRY_DELAY):
                return

    def _wait_for_answer(self, sent: Sent) -> str | None:
        """Wait until ``sent`` is answered or the connection is gone; its outcome."""
        with self._answered:
            self._answered.wait_for(lambda: sent.outcome is not None or sent not in self._pending)
        return sent.outcome

    def _ask_password_and_send(self, word: str, name: str) -> None:
        password = self._ask_password(word, name)
        if password is None:
            return
        line = f"{word} {name} {password}"
        command = protocol.parse_command(line)
        assert command is not None
        self._send_typed(command, line)

    def _ask_password(self, word: str, name: str) -> str | None:
        """The password, typed twice for a new account; ``None`` (and why) if there is none."""
        self._screen.flush()
        first_prompt = f"Escolha uma senha para {name}: " if word == "NOVO" else f"Senha de {name}: "
        try:
            password = getpass.getpass(first_prompt)
            if word == "NOVO" and getpass.getpass("Repita a senha: ") != password:
                self._screen.say("As senhas não conferem; a conta não foi criada.", Style.ERROR)
                return None
        except EOFError:
            self._screen.say("Cancelado.", Style.NOTICE)
            return None
        try:
            return protocol.validate_password(password)
        except protocol.ProtocolError as error:
            self._screen.say(f"Erro: {error.text}", Style.ERROR)
            return None

    def online_names(self) -> frozenset[str]:
        """Who else is online, as far as this client knows (for Tab)."""
        return self._online


# --- Start-up -----------------------------------------------------------------------------


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = protocol.PortugueseArgumentParser("Cliente de terminal do BatChat.")
    parser.option("--host", default="127.0.0.1", help="endereço do servidor")
    parser.option("--port", type=protocol.port_number, default=5050, help="porta do servidor")
    parser.option(
        "--no-reconnect", dest="reconnect", action="store_false",
        help="não tentar reconectar quando a conexão cair",
    )
    parser.option("--tls", action="store_true", help="conectar com TLS, verificando o certificado do servidor")
    parser.option(
        "--cafile", metavar="ARQUIVO",
        help="certificados (PEM) em que confiar, em vez dos do sistema; implica --tls",
    )
    parser.option(
        "--tls-insecure", action="store_true",
        help="TLS SEM verificar o certificado: qualquer um no caminho pode se passar pelo servidor",
    )
    args = parser.parse_args(argv)
    if args.tls_insecure and args.cafile:
        parser.error("--tls-insecure não verifica nada: não combina com --cafile")
    return args


NO_READLINE_NOTE = (
    "Este Python não tem readline (é assim no Windows): mensagens que chegam enquanto você "
    "digita aparecem no meio da linha, mas o que você digitou não se perde."
)


def make_screen(interactive: bool) -> tuple[PlainScreen, Any]:
    """The screen for this run, and the readline module when it edits the input line."""
    colour = use_colour(sys.stdout.isatty(), os.environ) and system.terminal_understands_colour()
    if not interactive:
        return PlainScreen(colour), None
    try:
        import readline
    except ImportError:  # Windows, or a Python built without it: plain input(), still a working client
        return PlainScreen(colour), None
    return TerminalScreen(colour, readline), readline


def set_up_readline(readline: Any, online: Callable[[], Iterable[str]]) -> None:
    """Tab completion of commands and online names; history is added by :class:`InputHistory`."""
    candidates: list[str] = []

    def complete(text: str, state: int) -> str | None:
        if state == 0:  # readline asks again with state 1, 2 ... for the same text
            begin = readline.get_begidx()
            candidates[:] = completions(readline.get_line_buffer(), begin, text, online())
        return candidates[state] if state < len(candidates) else None

    readline.set_auto_history(False)  # typed lines go in through InputHistory, minus passwords
    readline.set_completer_delims(" ")  # names may hold "." and "-"
    readline.set_completer(complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")


def stop_on_sigterm() -> None:
    """``kill`` leaves like Ctrl-C: SAIR sent, terminal restored, exit status 0."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    stop_on_sigterm()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        tls = tls_context(args)
    except OSError as error:  # ssl.SSLError too: a --cafile that holds no certificate
        print(f"Não foi possível ler --cafile {args.cafile}: {error.strerror or error}", file=sys.stderr)
        return 1
    if args.tls_insecure:
        print(INSECURE_WARNING, file=sys.stderr)
    try:
        link = open_link((args.host, args.port), tls)
    except KeyboardInterrupt:  # Ctrl-C while still connecting
        return 0
    except TlsRefused as error:
        print(f"Conectado a {protocol.format_address(args.host, args.port)}, mas {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(connect_problem(args.host, args.port, error), file=sys.stderr)
        return 1
    # Bytes that are not UTF-8 arrive as surrogates, whatever the locale, and
    # are reported as such, instead of the keyboard thread dying.
    sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    screen, readline_module = make_screen(interactive)
    try:
        history = None
        if readline_module is not None:
            history = InputHistory(history_path(os.environ), readline_module, screen.say)
            history.load()
        client = ChatClient(
            (args.host, args.port), screen, interactive=interactive, can_prompt=sys.stdin.isatty(),
            reconnect=args.reconnect, history=history, tls=tls,
        )
        if readline_module is not None:
            set_up_readline(readline_module, client.online_names)
        protection = link.description + (" SEM VERIFICAÇÃO" if args.tls_insecure else "")
        where = protocol.format_address(args.host, args.port)
        banner = f"BatChat: conectado a {where}{protection}. AJUDA ou ? mostra os comandos."
        screen.say(banner, Style.NOTICE)
        if interactive and readline_module is None:
            screen.say(NO_READLINE_NOTE, Style.NOTICE)
        return client.run(link)
    finally:
        screen.finish()


def exit_now(status: int) -> NoReturn:
    """Flush output and end the process, even with the keyboard thread blocked in input().

    A daemon thread blocked reading stdin holds stdin's buffer lock, and a
    normal interpreter shutdown then aborts with "could not acquire lock for
    <stdin> at interpreter shutdown" (CPython issue 23309). Nothing else is
    left to clean up once the session is over, so skip that shutdown.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            continue  # a closed pipe: nothing more can be said there
    os._exit(status)


def run_and_exit() -> NoReturn:
    """:func:`main`, and whatever happens, a clean exit: never an abort at shutdown."""
    status = 1
    try:
        status = main()
    except KeyboardInterrupt:  # a Ctrl-C that came before the session or after it
        status = 0
    except SystemExit as exit:  # argparse: --help (0) or a wrong option (2), already explained
        status = exit.code if isinstance(exit.code, int) else 1
    except BaseException:  # a bug: show it, then still leave through exit_now
        traceback.print_exc()
    finally:
        exit_now(status)


"""BatChat wire protocol: the grammar, the command classes and table, validation, no I/O.

This module is "sans-I/O" in the style of h11: it never touches a socket, a
thread or a file. :mod:`batchat.parsing` reads lines into its command classes,
:mod:`batchat.formatting` writes the server's lines; tests feed them strings
directly. docs/protocolo.md describes every
line and error code for people (in Portuguese); this is the grammar in short.

Framing: one message per line, UTF-8, ended by ``\\n`` (a ``\\r`` right before
it is dropped); lines are cut from the byte stream by
:class:`batchat.framing.LineFramer`, never by ``recv()`` call.

Client -> server (the command table, :data:`COMMAND_HELP`, is the source;
the command word is case-insensitive ASCII; a blank line is ignored, no reply)::

    NOVO <usuario> <senha>      ENTRAR <usuario> <senha>     LISTA [TODOS]
    CHAT <usuario> <mensagem>   TODOS <mensagem>             SAIR   AJUDA   PING
    SENHA <atual> <nova>        EXCLUIR <senha>
    teacher only (Access.TEACHER; others get ERRO SEM_PERMISSAO):
    AVISO <mensagem>|-          SILENCIAR <usuario> <duracao> [motivo]
    EXPULSAR <usuario> [motivo] BANIR <usuario> <duracao>|SEMPRE [motivo]
    LIBERAR <usuario>           PRIVADO NAO|SIM   REDEFINIR <usuario>
    REGISTRO [n]                CARGO <usuario> PROFESSOR|ALUNO
    rooms (issue 21; ``#`` optional in a room name): SALAS   FALA <#sala> <mensagem>
    SALA CRIAR|ENTRAR|SAIR|QUEM|ENCERRAR <#sala>   SALA TOPICO <#sala> [texto|-]
    SALA MOVER <#sala> <usuario>... (a teacher's)

``<duracao>``: ASCII digits and one of ``s m h d`` (any case), 1 s to 365 d.

``<mensagem>`` is everything after the one space that follows ``TODOS`` or the
recipient, leading spaces kept. Every command gets exactly one final reply,
``OK <COMANDO> [detalhe]`` or ``ERRO <CODIGO> <texto>``, and a reply's other
lines come before it, so replies match commands by order. ``OK CHAT`` is a
promise: the message reaches the recipient's connection or is kept for them
(``OK CHAT bob GUARDADA``); a ``CHAT`` that could not be kept is refused first
(``ERRO CAIXA_CHEIA``).

Server -> client::

    BATCHAT <versao> <texto>     first line of every served connection (see below)
    LIMITES <taxa> <rajada> <linha> <ouvintes-por-ficha> [...]   right after it
    OK <COMANDO> [detalhe]       ERRO <CODIGO> <texto>
    MSG <remetente> <mensagem>   TODOS <remetente> <mensagem>
    ENTROU <usuario>             SAIU <usuario>               INFO <texto>
    PENDENTE <remetente> <quando> <mensagem>    (ENTRAR's reply: kept messages)
    HISTORICO <remetente> <quando> <mensagem>   (ENTRAR's reply: last public ones)
    USUARIO <nome> ONLINE | USUARIO <nome> OFFLINE [<visto>]   (LISTA TODOS)
    SALA <#sala> <online> [topico]   TOPICO <#sala> <texto>|-   MEMBRO <#sala> <usuario> ONLINE|OFFLINE
    HISTORICO <#sala> <remetente> <quando> <mensagem>   FALA <#sala> <remetente> <mensagem>
    CHEGOU|PARTIU <#sala> <usuario>   MOVIDO <#sala> <professor>   ENCERRADA <#sala> <usuario>

Identification: a server's first line is ``BATCHAT <versao> <texto>`` (:func:`format_greeting`,
:func:`parse_greeting`), or one ``ERRO`` line (``LIMITE``, ``PROTOCOLO_INVALIDO``) and the end;
a client sends no line with a password (:data:`PASSWORD_COMMANDS`) before that greeting.

Flood limit: every line costs tokens (:func:`batchat.prices.line_price`); a line the bucket
cannot pay is not executed: ``ERRO DEVAGAR <fichas> <espera> <texto>``.

Times (``<quando>``, ``<visto>``) are UTC, ISO 8601 to the second:
``2026-11-21T21:14:05Z``. Transport: plain TCP, or TLS (1.2 or newer)
(:mod:`batchat.tls_bytes`: TLS as a byte transform, no socket either).

Names: 1-20 characters, letters (accented too), digits, ``_``, ``-``, ``.``,
none of them invisible; unique ignoring case (:func:`name_key`), and a new one
may not look like an existing one (:func:`name_skeleton`, from
:mod:`batchat.lookalikes`: ``joao`` after ``joão``); normalised to NFC.
Passwords: 6-128 printable characters, no whitespace. Message text: no control
characters, no Unicode line or paragraph separators and no bidi overrides or
isolates (they could forge a line, or reorder text, on somebody else's
screen); such text is refused with ``ERRO ARGUMENTOS``.
"""

from __future__ import annotations

import calendar
import difflib
import enum
import functools
import re
import time
import unicodedata
from dataclasses import dataclass, field

# The look-alike folding is part of the name rule; it lives apart for its size.
from batchat.lookalikes import INVISIBLE_IN_NAMES, SMALL_CAPITALS, name_skeleton, unmarked  # noqa: F401
# The greeting lives apart too; it is offered here, where the grammar names it.
from batchat.greeting import GREETING_WORD, Greeting, format_greeting, parse_greeting, PROTOCOL_VERSION  # noqa: F401

ENCODING = "utf-8"
# The server's limits by default (its LIMITES): its options' and a client's, until that line.
DEFAULT_FLOOD_RATE = 5.0  # lines per second, sustained (--flood-rate)
DEFAULT_FLOOD_BURST = 20  # lines at once after a quiet spell (--flood-burst)
DEFAULT_MAX_LINE = 2048  # bytes per line, counting the newline (--max-line)
FANOUT_PER_TOKEN = 10  # a TODOS costs one token more per this many listeners (LISTA TODOS: accounts)
# The longest line a server sends, counting the newline; a client drops a server
# that sends a longer one. A message line is at most --max-line (capped at half
# of this) plus a prefix, a name and a time; the longest other line is
# "OK LISTA" naming everyone online: 1 MiB holds over 12,000 names of 20
# four-byte characters (the default --max-clients is 1,000).
MAX_SERVER_LINE = 1 << 20
MAX_NAME_LENGTH = 20
NAME_CACHE_SIZE = 1 << 14  # names remembered as valid, and their keys (bounded memory)
MIN_PASSWORD_LENGTH = 6
MAX_PASSWORD_LENGTH = 128

# \w is Unicode-aware on str patterns: it covers accented letters and digits.
_NAME_RE = re.compile(r"[\w.-]{1,%d}" % MAX_NAME_LENGTH)


class ErrorCode(str, enum.Enum):
    """The error codes of ``ERRO <CODIGO> <texto>``: the wire names are fixed.

    ``str`` and ``Enum`` rather than ``enum.StrEnum``, which is new in Python
    3.11: Ubuntu 22.04's python3 is 3.10. ``__str__`` gives the wire name, as
    StrEnum's does, so ``f"{code}"`` is ``COMANDO_DESCONHECIDO``.
    """

    def __str__(self) -> str:
        return str(self.value)

    UNKNOWN_COMMAND = "COMANDO_DESCONHECIDO"
    ARGUMENTS = "ARGUMENTOS"
    INVALID_NAME = "NOME_INVALIDO"
    INVALID_PASSWORD = "SENHA_INVALIDA"
    USER_EXISTS = "USUARIO_EXISTE"
    CREDENTIALS = "CREDENCIAIS"
    NOT_AUTHENTICATED = "NAO_AUTENTICADO"
    ALREADY_AUTHENTICATED = "JA_AUTENTICADO"
    UNKNOWN_USER = "USUARIO_INEXISTENTE"
    MAILBOX_FULL = "CAIXA_CHEIA"  # CHAT: the recipient has --max-pending not yet written to them
    SESSION_REPLACED = "SESSAO_SUBSTITUIDA"
    INVALID_UTF8 = "UTF8_INVALIDO"
    UNAVAILABLE = "INDISPONIVEL"
    LINE_TOO_LONG = "LINHA_LONGA"
    LIMIT = "LIMITE"
    SLOW_DOWN = "DEVAGAR"  # the flood limit: this line was not executed; fields say when to resend
    WRONG_PROTOCOL = "PROTOCOLO_INVALIDO"
    NO_PERMISSION = "SEM_PERMISSAO"  # a teacher's command from a student
    MUTED = "SILENCIADO"  # fields: <ate> <texto>
    KICKED = "EXPULSO"  # fields: <ate> <texto>
    BANNED = "BANIDO"  # fields: <ate> <texto>
    PRIVATE_BLOCKED = "PRIVADO_BLOQUEADO"  # exam mode: CHAT between students
    MUST_CHANGE_PASSWORD = "TROCAR_SENHA"  # logged in with a one-time password: SENHA first
    PASSWORD_RESET = "SENHA_REDEFINIDA"  # a teacher reset the password: this session ends
    INVALID_DURATION = "DURACAO_INVALIDA"
    TARGET_TEACHER = "ALVO_PROFESSOR"  # a sanction aimed at a teacher
    LAST_TEACHER = "ULTIMO_PROFESSOR"  # the last teacher may not be demoted or deleted
    INVALID_ROOM = "SALA_INVALIDA"  # not a room name
    UNKNOWN_ROOM = "SALA_INEXISTENTE"  # no such room, or closed
    ROOM_EXISTS = "SALA_EXISTE"  # SALA CRIAR of an open room
    NOT_IN_ROOM = "FORA_DA_SALA"  # FALA, TOPICO, QUEM by a non-member
    GENERAL_ROOM = "SALA_GERAL"  # #geral is not left nor closed


class ProtocolError(Exception):
    """A refused request: ``ERRO <code> <text>`` on the wire. ``usage``: the command word whose
    syntax (:data:`COMMAND_HELP`) a usage error means; ``text`` is for people, never read."""

    def __init__(self, code: ErrorCode, text: str, *, usage: str | None = None) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.usage = code, text, usage


# --- Client commands --------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """``NOVO <usuario> <senha>``."""

    name: str
    password: str = field(repr=False)  # never let a password reach a log via repr


@dataclass(frozen=True)
class Login:
    """``ENTRAR <usuario> <senha>``."""

    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ListUsers:
    """``LISTA``, or ``LISTA TODOS`` (``everyone``): every account, with when it was last seen."""

    everyone: bool = False


@dataclass(frozen=True)
class PrivateMessage:
    """``CHAT <usuario> <mensagem>``."""

    recipient: str
    text: str


@dataclass(frozen=True)
class Broadcast:
    """``TODOS <mensagem>``."""

    text: str


@dataclass(frozen=True)
class Quit:
    """``SAIR``."""


@dataclass(frozen=True)
class Help:
    """``AJUDA``."""


@dataclass(frozen=True)
class Ping:
    """``PING``."""


@dataclass(frozen=True)
class ChangePassword:
    """``SENHA <atual> <nova>``."""

    current: str = field(repr=False)
    new: str = field(repr=False)


@dataclass(frozen=True)
class DeleteAccount:
    """``EXCLUIR <senha>``: one's own account, and the messages kept for it."""

    password: str = field(repr=False)


# --- The teacher's commands (Access.TEACHER) ---


@dataclass(frozen=True)
class Announce:
    """``AVISO <mensagem>``: pinned for everyone; ``AVISO -`` (``text`` None) unpins."""

    text: str | None


@dataclass(frozen=True)
class Mute:
    """``SILENCIAR <usuario> <duracao> [motivo]``."""

    name: str
    seconds: int
    reason: str = ""


@dataclass(frozen=True)
class Kick:
    """``EXPULSAR <usuario> [motivo]``: the wait is the server's (--espera-expulsao)."""

    name: str
    reason: str = ""


@dataclass(frozen=True)
class Ban:
    """``BANIR <usuario> <duracao>|SEMPRE [motivo]``: ``seconds`` None is SEMPRE."""

    name: str
    seconds: int | None
    reason: str = ""


@dataclass(frozen=True)
class Release:
    """``LIBERAR <usuario>``: lifts the mute, the kick's wait and the ban."""

    name: str


@dataclass(frozen=True)
class PrivateChats:
    """``PRIVADO NAO|SIM``: exam mode is ``allowed`` False (no CHAT between students)."""

    allowed: bool


@dataclass(frozen=True)
class ResetPassword:
    """``REDEFINIR <usuario>``: a one-time password."""

    name: str


@dataclass(frozen=True)
class ModerationLog:
    """``REGISTRO [n]``: the last ``count`` moderation acts."""

    count: int = 20


@dataclass(frozen=True)
class SetRole:
    """``CARGO <usuario> PROFESSOR|ALUNO``."""

    name: str
    teacher: bool


# --- Rooms (issue 21): ``room`` is '#' plus the name in NFC, as typed ---


@dataclass(frozen=True)
class ListRooms:
    """``SALAS``."""


@dataclass(frozen=True)
class RoomMessage:
    """``FALA <#sala> <mensagem>``."""

    room: str
    text: str


ROOM_ACTIONS = ("CRIAR", "ENTRAR", "SAIR", "TOPICO", "QUEM", "MOVER", "ENCERRAR")


@dataclass(frozen=True)
class RoomCommand:
    """``SALA <acao> <#sala> ...``: ``action`` one of :data:`ROOM_ACTIONS`; ``topic`` for
    TOPICO (``None``: read it; ``"-"``: none); ``names`` for MOVER (the teacher's: Access
    is checked by the session for that action)."""

    action: str
    room: str
    topic: str | None = None
    names: tuple[str, ...] = ()


Command = (
    Register | Login | ListUsers | PrivateMessage | Broadcast | Quit | Help | Ping | ChangePassword
    | DeleteAccount | Announce | Mute | Kick | Ban | Release | PrivateChats | ResetPassword | ModerationLog | SetRole
    | ListRooms | RoomMessage | RoomCommand
)


class Access(enum.Enum):
    """When a command may be used: the "needs login" column of the command table."""

    LOGGED_IN = "sim"  # only after ENTRAR: NAO_AUTENTICADO before
    LOGGED_OUT = "não (e não depois de entrar)"  # NOVO, ENTRAR: JA_AUTENTICADO after
    ANY = "não"  # any time
    TEACHER = "sim, como professor"  # logged in as a teacher: SEM_PERMISSAO for a student


@dataclass(frozen=True)
class CommandHelp:
    """One row of the command table: the command's class and word, when it may be used,
    and how to use it. Dispatch (the server checks ``access`` once, then calls
    the handler it keeps for ``kind``), ``AJUDA`` (server and client) and the
    README's table of commands all come from :data:`COMMAND_HELP`."""

    kind: type
    access: Access
    syntax: str
    meaning: str
    example: str

    def line(self) -> str:
        """One line: syntax, meaning and an example."""
        return f"{self.syntax} - {self.meaning} (ex.: {self.example})"


# The command table: every command, in the order AJUDA lists them.
COMMAND_HELP: dict[str, CommandHelp] = {
    "NOVO": CommandHelp(
        Register, Access.LOGGED_OUT, "NOVO <usuário> <senha>", "cria uma conta", "NOVO alice s3nh4x"
    ),
    "ENTRAR": CommandHelp(
        Login, Access.LOGGED_OUT, "ENTRAR <usuário> <senha>", "entra no chat", "ENTRAR alice s3nh4x"
    ),
    "LISTA": CommandHelp(
        ListUsers, Access.LOGGED_IN, "LISTA [TODOS]", "quem está online (ou todos)", "LISTA TODOS"
    ),
    "CHAT": CommandHelp(
        PrivateMessage, Access.LOGGED_IN, "CHAT <usuário> <mensagem>", "mensagem privada",
        "CHAT bob oi!",
    ),
    "TODOS": CommandHelp(Broadcast, Access.LOGGED_IN, "TODOS <mensagem>", "mensagem para todos", "TODOS bom dia!"),
    "SAIR": CommandHelp(Quit, Access.ANY, "SAIR", "sai do chat", "SAIR"),
    "AJUDA": CommandHelp(Help, Access.ANY, "AJUDA", "mostra esta ajuda", "AJUDA"),
    "PING": CommandHelp(Ping, Access.ANY, "PING", "testa a conexão", "PING"),
    "SENHA": CommandHelp(
        ChangePassword, Access.LOGGED_IN, "SENHA <atual> <nova>", "troca a sua senha", "SENHA s3nh4x n0v4-s3nh4"
    ),
    "EXCLUIR": CommandHelp(
        DeleteAccount, Access.LOGGED_IN, "EXCLUIR <senha>", "apaga a sua conta",
        "EXCLUIR s3nh4x",
    ),
    "SALAS": CommandHelp(ListRooms, Access.LOGGED_IN, "SALAS", "as salas abertas", "SALAS"),
    "FALA": CommandHelp(RoomMessage, Access.LOGGED_IN, "FALA <#sala> <mensagem>", "mensagem numa sala", "FALA #g1 oi!"),
    # SALA's actions (CRIAR ENTRAR SAIR TOPICO QUEM, a teacher's MOVER and ENCERRAR): docs/protocolo.md.
    "SALA": CommandHelp(RoomCommand, Access.LOGGED_IN, "SALA <ação> <#sala> [...]", "ENTRAR, SAIR, CRIAR etc.",
                        "SALA ENTRAR #g1"),
    "AVISO": CommandHelp(
        Announce, Access.TEACHER, "AVISO <mensagem>|-", "aviso fixado para todos (AVISO - o tira)",
        "AVISO prova às 10h",
    ),
    "SILENCIAR": CommandHelp(
        Mute, Access.TEACHER, "SILENCIAR <usuário> <duração> [motivo]",
        "impede TODOS e CHAT para alunos por um tempo", "SILENCIAR bob 10m spam",
    ),
    "EXPULSAR": CommandHelp(
        Kick, Access.TEACHER, "EXPULSAR <usuário> [motivo]", "desconecta e impede de entrar por alguns minutos",
        "EXPULSAR bob bagunça",
    ),
    "BANIR": CommandHelp(
        Ban, Access.TEACHER, "BANIR <usuário> <duração>|SEMPRE [motivo]", "desconecta e impede de entrar",
        "BANIR bob 1d",
    ),
    "LIBERAR": CommandHelp(
        Release, Access.TEACHER, "LIBERAR <usuário>", "tira o silêncio, a expulsão e o banimento", "LIBERAR bob"
    ),
    "PRIVADO": CommandHelp(
        PrivateChats, Access.TEACHER, "PRIVADO NAO|SIM", "modo prova: bloqueia (ou libera) CHAT entre alunos",
        "PRIVADO NAO",
    ),
    "REDEFINIR": CommandHelp(
        ResetPassword, Access.TEACHER, "REDEFINIR <usuário>", "cria uma senha provisória, de um só uso",
        "REDEFINIR bob",
    ),
    "REGISTRO": CommandHelp(
        ModerationLog, Access.TEACHER, "REGISTRO [n]", "os últimos n atos de moderação (20 se faltar)",
        "REGISTRO 50",
    ),
    "CARGO": CommandHelp(
        SetRole, Access.TEACHER, "CARGO <usuário> PROFESSOR|ALUNO", "torna professor ou aluno",
        "CARGO bia PROFESSOR",
    ),
}
COMMAND_WORDS: tuple[str, ...] = tuple(COMMAND_HELP)
_HELP_BY_CLASS: dict[type, CommandHelp] = {help.kind: help for help in COMMAND_HELP.values()}
_COMMAND_WORDS_BY_CLASS: dict[type, str] = {help.kind: word for word, help in COMMAND_HELP.items()}


def command_word(command: Command) -> str:
    """The word that starts ``command`` on the wire, and names it in ``OK <COMANDO>``."""
    return _COMMAND_WORDS_BY_CLASS[type(command)]


def command_help(command: Command) -> CommandHelp:
    """The command table's row for ``command``."""
    return _HELP_BY_CLASS[type(command)]


# Words people type for a command, from other chats and languages.
COMMAND_ALIASES: dict[str, str] = {
    "HELP": "AJUDA", "QUIT": "SAIR", "EXIT": "SAIR", "TCHAU": "SAIR", "BYE": "SAIR",
    "LOGIN": "ENTRAR", "REGISTER": "NOVO", "CADASTRO": "NOVO", "LIST": "LISTA",
    "WHO": "LISTA", "QUEM": "LISTA", "MSG": "CHAT", "ALL": "TODOS",
}


def closest_command(word: str, words: tuple[str, ...] = COMMAND_WORDS) -> str | None:
    """The command ``word`` most likely meant (``ENTRA`` -> ``ENTRAR``, ``quit`` -> ``SAIR``),
    among ``words`` (the client adds its own).

    ``None`` when nothing is close, or when ``word`` already is that command.
    """
    upper = word.upper()
    if upper in COMMAND_ALIASES:
        return COMMAND_ALIASES[upper]
    matches = difflib.get_close_matches(upper, words, n=1, cutoff=0.6)
    if not matches or (word.isascii() and matches[0] == upper):
        return None
    return matches[0]  # "saır" (dotless i) is no SAIR, though its upper() is


# --- Decoding and encoding lines ---------------------------------------------


def decode_line(raw: bytes) -> str:
    """Decode one framed line; invalid UTF-8 raises ``UTF8_INVALIDO``."""
    try:
        return raw.decode(ENCODING)
    except UnicodeDecodeError:
        raise ProtocolError(ErrorCode.INVALID_UTF8, "A linha não está em UTF-8 válido e foi descartada.") from None


def encode_line(line: str) -> bytes:
    """Encode one outgoing line, adding the newline."""
    return (line + "\n").encode(ENCODING)


# --- Validation -------------------------------------------------------------


# Characters that may not travel in a name or message. Cc (U+0000-U+001F,
# U+007F-U+009F: NUL, ESC, "\r", tab...) and Zl/Zp (U+2028/U+2029, line breaks
# to some terminals and libraries) could forge a server line or drive another
# user's terminal. Bidi embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069) reorder the text shown after them ("Trojan Source"): one user
# could make another's screen say something the bytes do not. One regex,
# because checking each character in Python costs more than the rest of
# handling a message (a test checks it against the Unicode categories).
FORBIDDEN_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_HAS_LETTER_OR_DIGIT_RE = re.compile(r"[^\W_]")  # \w without "_" is exactly str.isalnum
def is_forbidden_char(char: str) -> bool:
    """Whether ``char`` may not travel in a name or message."""
    return FORBIDDEN_CHARS.match(char) is not None


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)  # every message names someone; few names recur
def validate_name(name: str) -> str:
    """Return ``name`` in NFC if it is a valid user name, else raise ``NOME_INVALIDO``."""
    normalized = unicodedata.normalize("NFC", name)
    # At least one letter or digit: nobody should be called "." or "--"; and
    # nothing invisible, so that every name looks like itself (see INVISIBLE_IN_NAMES).
    if (
        not _NAME_RE.fullmatch(normalized)
        or not _HAS_LETTER_OR_DIGIT_RE.search(normalized)
        or INVISIBLE_IN_NAMES.search(normalized)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_NAME,
            f"Nome inválido: use de 1 a {MAX_NAME_LENGTH} letras, dígitos, '_', '-' ou '.'.",
        )
    return normalized


def validate_password(password: str) -> str:
    """Return ``password`` in NFC if its format is valid, else raise ``SENHA_INVALIDA``.

    NFC, so that "senhá" typed on a system that sends decomposed accents is
    the same password as on one that sends composed ones.
    """
    password = unicodedata.normalize("NFC", password)
    if not (
        MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
        and password.isprintable()
        and not any(char.isspace() for char in password)
    ):
        raise ProtocolError(
            ErrorCode.INVALID_PASSWORD,
            f"Senha inválida: use de {MIN_PASSWORD_LENGTH} a {MAX_PASSWORD_LENGTH} "
            "caracteres, sem espaços.",
        )
    return password


def validate_text(text: str) -> str:
    """Return message ``text`` if it is safe to show to others, else raise ``ARGUMENTOS``."""
    if FORBIDDEN_CHARS.search(text):
        raise ProtocolError(
            ErrorCode.ARGUMENTS, "A mensagem contém caracteres de controle não permitidos."
        )
    return text


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)
def name_key(name: str) -> str:
    """The identity of a user name: ``Alice`` and ``alice`` are one account."""
    return unicodedata.normalize("NFC", name).casefold()


# --- Times -------------------------------------------------------------------


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_timestamp(seconds: float) -> str:
    """Seconds since the epoch as UTC ISO 8601 to the second: ``2026-11-21T21:14:05Z``."""
    return time.strftime(_TIMESTAMP_FORMAT, time.gmtime(seconds))


def parse_timestamp(text: str) -> float | None:
    """The inverse of :func:`format_timestamp`; ``None`` if ``text`` is not one."""
    try:
        return float(calendar.timegm(time.strptime(text, _TIMESTAMP_FORMAT)))
    except ValueError:
        return None


# --- The greeting (batchat/greeting.py): which commands wait for it -------------

# The commands whose line carries a password: a client never sends one before the
# server's greeting, on any connection (a first one or a reconnection).
PASSWORD_COMMANDS: tuple[str, ...] = ("NOVO", "ENTRAR", "SENHA", "EXCLUIR")  # a tuple: checked in this order, every run


def carries_password(command: Command) -> bool:
    """Whether ``command``'s line holds a password (see :data:`PASSWORD_COMMANDS`)."""
    return command_word(command) in PASSWORD_COMMANDS


# --- Addresses, as people write them -------------------------------------------

def format_address(host: str, port: int) -> str:
    """``host:port`` as people and URLs write it: ``[::1]:5050`` for an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

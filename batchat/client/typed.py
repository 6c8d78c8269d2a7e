"""From what the person types to what is sent.

Owns the decision about one typed line (:func:`interpret`: send it, ask for a
password, show help, start or end a conversation, or refuse it with a hint),
how it is tidied before it goes out, what the input history keeps of it
(never a password) and Tab's candidates. Pure: no I/O.

The rule a person can predict (``AJUDA`` shows it): a line that starts with
``/`` is a command (``/chat bob oi``, ``/lista todos``, ``/sair``); so is a
command word alone, in any case (``lista``, ``sair``, ``?``), and a line that
starts with a command word in capitals, the protocol's own syntax (``CHAT bob
oi``, ``ENTRAR alice s3nh4``). Every other line is text: to everyone, or to
the partner of a conversation (``/conversa bob``); before login it has nowhere
to go, and gets a hint naming ``/novo`` and ``/entrar``. The client's own
commands need their ``/``: ``/conversa``, ``/privadas`` (the last private
lines) and ``/r texto`` (``texto`` privately to whoever wrote privately last). ``//`` at the start
sends text that begins with ``/``; ``\\`` before a command is read as ``/``.
A line that starts with a space or a tab is always text, sent with its
indentation (pasted code keeps its shape); a message's tabs become spaces
(:data:`TAB_WIDTH`), and its text is everything after the ONE space that
follows ``TODOS`` or the recipient, as the server reads it.
One exception keeps passwords safe: a line whose first word, in capitals,
looks like ``ENTRAR`` or ``NOVO`` (``NOV``, ``ENTRA``, ``ＥＮＴＲＡＲ``, a
Cyrillic ``Е``) is refused with a hint, never sent as text
(:func:`looks_like_password_command`), nor kept in the history when a word after
it may be the password (:func:`history_entry`). ``/senha`` and ``/excluir`` go alone
on the line: every password they take is asked hidden. A teacher's command takes its
fixed words in any case (``/privado não`` sends ``PRIVADO NAO``: :func:`in_wire_keywords`).

Called by the keyboard side of the client (:mod:`batchat.client.threads`) and by
:mod:`batchat.client.screen`; imports only :mod:`protocol` and :mod:`batchat.client.render`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import protocol
from batchat import parsing
from batchat.client.render import KEYWORD_POSITION, WIRE_KEYWORDS, make_visible, slash_form, words_before_password

@dataclass(frozen=True)
class Send:
    """A valid command: send ``line`` (what goes on the wire, not always what was typed)."""

    line: str
    command: protocol.Command


@dataclass(frozen=True)
class AskPassword:
    """``NOVO alice`` or ``ENTRAR alice``: ask for the password, hidden, then send; ``/senha``
    or ``/excluir`` (``name`` empty): ask every password they take, hidden, then send."""

    word: str  # "NOVO", "ENTRAR", "SENHA" or "EXCLUIR"
    name: str


@dataclass(frozen=True)
class ShowHelp:
    """``AJUDA`` or ``?``: answered by the client itself, with examples; ``/ajuda professor``
    (``teacher``): the teacher's commands."""

    teacher: bool = False


@dataclass(frozen=True)
class Refuse:
    """A line the server would refuse anyway, or that has nowhere to go: say why, send nothing."""

    text: str


@dataclass(frozen=True)
class Converse:
    """``/conversa bob``: text goes privately to ``partner`` from now on; ``None`` ends it."""

    partner: str | None


@dataclass(frozen=True)
class ShowPrivates:
    """``/privadas``: the last private lines of this run, answered by the client itself."""


Typed = Send | AskPassword | ShowHelp | Refuse | Converse | ShowPrivates

# The commands whose next words may be a password (protocol.py keeps the one list): the
# look-alike rule, the password prompt and the history file check all use it.
PASSWORD_COMMANDS = protocol.PASSWORD_COMMANDS
CONVERSE = "CONVERSA"  # the client's own command: nothing goes on the wire
REPLY = "R"  # /r texto: a private answer to whoever wrote privately last
PRIVATES = "PRIVADAS"  # /privadas: the last private lines, shown by the client
CLIENT_WORDS = (CONVERSE, REPLY, PRIVATES)  # the client's own commands, after "/" only
# Other words for a command after "/", from IRC and English.
SLASH_ALIASES = {"MSG": "CHAT", "QUERY": CONVERSE, "QUIT": "SAIR", "HELP": "AJUDA", "?": "AJUDA"}
# What an unknown /word may be taken for: the wire's commands and the client's own (and aliases).
SUGGESTED_WORDS = (*protocol.COMMAND_WORDS, CONVERSE, PRIVATES, *SLASH_ALIASES)
# Tab completes what everyone may use (a teacher types the teacher's commands whole).
SLASH_WORDS = tuple(sorted(
    word.lower() for word in (*protocol.COMMAND_WORDS, *CLIENT_WORDS)
    if word in CLIENT_WORDS or protocol.COMMAND_HELP[word].access is not protocol.Access.TEACHER
))
# IRC habits with no command here: the BatChat way instead.
IRC_HINTS = {
    "JOIN": "Aqui se vai para uma sala com /sala #nome (e /sala sozinho volta a #geral); "
    "/salas lista as salas.",
    "PART": "Para sair de uma sala: /sala sair #nome (/sair sai do chat).",
    "NICK": "Aqui o nome é a sua conta: para usar outro, crie uma conta com /novo <nome>.",
}
NOT_LOGGED_IN = (
    "Você ainda não entrou: crie uma conta com /novo <nome> ou entre com /entrar <nome>."
)
# /novo takes one name, and the password is always asked hidden (twice): "/novo Eduarda
# Ferreira" must not create Eduarda with the password Ferreira, shown on the screen.
NEW_ACCOUNT_ONE_NAME = (
    "Erro: Nomes não têm espaços: /novo leva só o nome (/novo <nome>), e a senha é pedida "
    "em seguida, sem aparecer na tela."
)
NEW_ACCOUNT_ONE_NAME_PIPED = (
    "Erro: Nomes não têm espaços: /novo leva só o nome; num script, crie a conta com "
    "NOVO <usuário> <senha>, em maiúsculas."
)
TEACHER_HELP_WORDS = ("professor", "professores", "professora", "professoras")  # /ajuda professor
CONVERSE_USAGE = "Uso: /conversa <usuário>, e /conversa sozinho para voltar a falar com todos."
REPLY_USAGE = "Uso: /r <mensagem>, que vai no privado para {name}, quem escreveu para você por último."
NO_ONE_TO_REPLY = "Ninguém escreveu para você no privado ainda: /r responde a quem escreveu por último."
# The commands about one's own account whose every word is a password: typed alone, the
# client asks them hidden (never on the line, never in the history).
ACCOUNT_COMMANDS = ("SENHA", "EXCLUIR")
ACCOUNT_COMMAND_ALONE = (
    "Erro: {command} vai sozinho na linha: as senhas são pedidas em seguida, sem aparecer na tela."
)
ACCOUNT_COMMAND_PIPED = "Erro: Num script, use {syntax}, em maiúsculas."
_FIRST_WORD_RE = re.compile(r"(\S*)\s*(.*)", re.DOTALL)
_FIRST_WORD_ONE_SPACE_RE = re.compile(r"(\S*)\s?(.*)", re.DOTALL)
# A tab in a message becomes spaces up to the next multiple of this many columns, counted
# from the start of the message (the server refuses tabs: they are control characters).
TAB_WIDTH = 4
INDENTED_PASSWORD_COMMAND = (
    "Erro: Uma linha que começa com espaço ou tab é texto, e esta começa como {command}: não "
    "foi enviada, porque o resto pode ser uma senha. Para o comando, tire o espaço do começo."
)


def _split_first(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest, whatever whitespace separates them."""
    match = _FIRST_WORD_RE.match(text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def _split_one(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest after the ONE whitespace character that
    follows it: the rest's own leading spaces are kept (a message's indentation)."""
    match = _FIRST_WORD_ONE_SPACE_RE.match(text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def as_spaces(text: str) -> str:
    """``text`` with each tab turned into spaces, to the next multiple of :data:`TAB_WIDTH`."""
    return text.expandtabs(TAB_WIDTH)


def _command_word(word: str) -> str:
    """``word`` as a command word: upper case, for ASCII words only (as the server does)."""
    return word.upper() if word.isascii() else word


def tidy_typed(line: str) -> str:
    """The line as it will be sent: one space between the command word and each name.

    A tab or a no-break space (Alt+Space on a Mac keyboard) after ``CHAT``
    would make the server see an unknown command; a ``\r`` left by CRLF input
    would make the last word wrong. A message is everything after the ONE
    whitespace character that follows ``TODOS`` or the recipient, kept exactly
    (leading spaces too), but for its tabs, turned into spaces (:func:`as_spaces`).
    """
    word, rest = _split_one(line.removesuffix("\r").lstrip())
    match _command_word(word):
        case "TODOS" | "AVISO":
            return f"{word} {as_spaces(rest)}" if rest else word
        case "CHAT":
            name, text = _split_one(rest.lstrip())
            return " ".join(part for part in (word, name, as_spaces(text)) if part)
    return " ".join(line.split())


def starts_command(line: str) -> str | None:
    """The command word ``line`` starts with under the rule (``CONVERSA`` included), or
    ``None`` when it is text. A ``/word`` that is no command gives ``""``."""
    word, rest = _split_first(line.lstrip())
    if word.startswith("//"):
        return None
    if word.startswith("/"):
        upper = _command_word(word[1:])
        upper = SLASH_ALIASES.get(upper, upper)
        return upper if upper in (*protocol.COMMAND_WORDS, *CLIENT_WORDS) else ""
    if word == "?" and not rest.strip():
        return "AJUDA"
    if word in protocol.COMMAND_WORDS:  # in capitals: the protocol's own syntax
        return word
    if not rest.strip() and _command_word(word) in protocol.COMMAND_WORDS:  # alone, any case
        return _command_word(word)
    return None


def interpret(
    line: str, can_prompt: bool, *, logged_in: bool = False, partner: str | None = None,
    max_line: int = protocol.DEFAULT_MAX_LINE, replying_to: str | None = None,
) -> Typed | None:
    """Decide what to do with one typed line; ``None`` for a blank line.

    Whether the person is logged in comes as a parameter, so that this stays
    pure and table-tested: ``logged_in`` (from
    :attr:`batchat.client.state.ClientState.logged_in`: a login worked, and
    holds or is being made again after a drop) says text has somewhere to
    go; ``partner`` is who a conversation (``/conversa bob``) sends it to;
    ``max_line`` is the server's longest line (its ``LIMITES``), in bytes;
    ``replying_to``, who last wrote privately (``/r`` answers them).
    The client checks with the protocol module the server uses, so a typo gets
    its hint at once; what only the server knows (who is online, passwords) it
    still decides.
    """
    line = line.removesuffix("\r")
    if not line.strip():
        return None
    if line[:1].isspace():  # indented (pasted code): text, its shape kept, never a command
        return _indented(line, logged_in, partner, max_line)
    typed = _backslash_as_slash(line)
    word = starts_command(typed)
    if word is None:
        return _text(typed, logged_in, partner, max_line)
    first, rest = _split_one(typed)
    if first == "?":
        return ShowHelp()
    if word == "":
        return _unknown_slash(first[1:])
    if word == CONVERSE:
        return _converse(rest, logged_in)
    if word == PRIVATES:
        return ShowPrivates()
    if word == REPLY:
        return _reply(rest, typed, logged_in, replying_to, max_line)
    if word in ACCOUNT_COMMANDS and not logged_in:
        return Refuse(NOT_LOGGED_IN)
    wire = in_wire_keywords(tidy_typed(f"{word} {rest}" if first.startswith("/") else typed))
    return _command(wire, typed, can_prompt, max_line)


def in_wire_keywords(wire: str) -> str:
    """``wire`` with the word a command takes at its place as on the wire (``PRIVADO não``
    -> ``PRIVADO NAO``, ``BANIR bob sempre`` -> ``BANIR bob SEMPRE``, ``CARGO ana
    professora`` -> ``CARGO ana PROFESSOR``); any other word, and a message, as typed."""
    words = wire.split(" ")
    position = KEYWORD_POSITION.get(_command_word(words[0]))
    if position is not None and position < len(words):
        words[position] = WIRE_KEYWORDS.get(words[position].casefold(), words[position])
    return " ".join(words)


def _text(typed: str, logged_in: bool, partner: str | None, max_line: int) -> Typed:
    """Text: to ``partner`` in a conversation, else to everyone; nowhere before login.

    Except a line whose first word, in capitals, looks like a password command
    (``ENTRA alice s3nh4``, ``NOV bob s3nh4``, ``ＥＮＴＲＡＲ``, a Cyrillic ``Е``):
    a mistyped or disguised command, whose next words may be a password, is
    never sent as text (:func:`looks_like_password_command`).
    """
    text = as_spaces(typed[1:] if typed.startswith("//") else typed)
    first, rest = _first_word_as_read(text)
    if rest and (meant := looks_like_password_command(first)):
        return Refuse(unknown_command_hint(_first_word_as_typed(text), slash="", meant=meant))
    if not logged_in:
        return Refuse(NOT_LOGGED_IN)
    wire = f"CHAT {partner} {text}" if partner else f"TODOS {text}"
    return _command(wire, typed, False, max_line)


def _indented(line: str, logged_in: bool, partner: str | None, max_line: int) -> Typed:
    """A line that starts with a space or a tab: text, sent with its indentation (tabs as
    :func:`as_spaces`), so pasted code keeps its shape; never a command. But a first word
    that, after a ``/`` or ``\\``, is or looks like ``ENTRAR`` or ``NOVO`` (``  /entrar bob
    s3nh4``), or in capitals looks like one (``  ENTRAR bob s3nh4``), is refused: the rest
    may be a password, and it never goes out as text."""
    first, rest = _first_word_as_read(line)  # read without a leading / or \\
    slashed = line.split(maxsplit=1)[0][:1] in ("/", "\\") and resembled_password_command(first)
    if rest and (meant := slashed or looks_like_password_command(first)):
        return Refuse(INDENTED_PASSWORD_COMMAND.format(command=f"/{meant.lower()}"))
    return _text(line, logged_in, partner, max_line)


# What the look-alike rule compares: the Latin letters a word looks like, in lower case
# (``ЕNTRÁR`` with a Cyrillic ``Е``, ``ＥＮＴＲＡＲ``, ``ᴇɴᴛʀᴀʀ`` and ``entrar`` all give
# ``entrar``). The same folding keeps two accounts from looking alike: batchat/lookalikes.py has it,
# once. A command word is also read with its digits as the letters they look like
# (``N0VO``, ``3NTRAR``), which a name may not be (``ana3`` and ``anae`` are two names).
skeleton = protocol.name_skeleton
_DIGITS_AS_LETTERS = ("01234578", "OIZEASTB")
_AS_CAPITALS = str.maketrans(
    protocol.SMALL_CAPITALS[0] + _DIGITS_AS_LETTERS[0],
    protocol.SMALL_CAPITALS[1] + _DIGITS_AS_LETTERS[1],
)
_DIGITS_AS_SMALL = str.maketrans(_DIGITS_AS_LETTERS[0], _DIGITS_AS_LETTERS[1].lower())


def command_skeleton(word: str) -> str:
    """:func:`skeleton` of a command word, its digits read as letters: ``N0VO`` is ``novo``."""
    return skeleton(word).translate(_DIGITS_AS_SMALL)


def _one_edit_apart(first: str, second: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of two neighbours turns
    ``first`` into ``second`` (Damerau-Levenshtein distance 1)."""
    if len(first) > len(second):
        first, second = second, first
    start = 0
    while start < len(first) and first[start] == second[start]:
        start += 1
    if len(first) + 1 == len(second):
        return first[start:] == second[start + 1:]
    if len(first) != len(second) or start == len(first):
        return False
    swapped = second[start + 1:start + 2] + second[start] + second[start + 2:]
    return first[start + 1:] == second[start + 1:] or first[start:] == swapped


def resembled_password_command(word: str) -> str | None:
    """The password command (:data:`PASSWORD_COMMANDS`) ``word`` may stand for, in any
    case, or ``None``: its :func:`skeleton` is the command, starts with it (a name
    glued on: ``ENTRARbob``), is one edit away (``ENTAR``, ``NOVA``) or is a prefix
    of at least three letters (``NOV``, ``ENT``); or the typo hint finds the
    command closest (``LOGIN``, ``REGISTER``: :func:`protocol.closest_command`)."""
    folded = command_skeleton(word)
    for command in PASSWORD_COMMANDS:
        target = command.casefold()
        if (
            folded.startswith(target) or _one_edit_apart(folded, target)
            or (len(folded) >= 3 and target.startswith(folded))
        ):
            return command
    closest = protocol.closest_command(word)
    return closest if closest in PASSWORD_COMMANDS else None


def in_capitals(word: str) -> bool:
    """Whether ``word`` starts with three capital letters, in any script and width
    (``NOV``, ``ENTRARbob``, ``ＥＮＴＲＡＲ``, ``ЕNTRAR``, ``ÉNTRAR``), invisible ones aside;
    small capitals count (``ᴇɴᴛʀᴀʀ``), and so do digits drawn like capitals (``N0VO``,
    ``3NTRAR``) beside at least one letter (``100 pessoas`` is not in capitals)."""
    first = protocol.unmarked(word)[:3]
    letters = first.translate(_AS_CAPITALS)
    return len(letters) == 3 and all(char.isupper() for char in letters) and not first.isdigit()


def looks_like_password_command(word: str) -> str | None:
    """The password command that ``word``, the first word of a line, looks like, if
    it is in capitals: such a line is refused, never sent as text (``None``: text)."""
    return resembled_password_command(word) if in_capitals(word) else None


def _first_word_as_read(text: str) -> tuple[str, str]:
    """The first word of ``text`` and the rest as the look-alike rule reads them:
    invisible characters dropped (U+200B, then ``ENTRAR``, starts with ``ENTRAR``), and
    the slashes or backslashes in front (``//ENTRAR``, text after ``//``, reads ``ENTRAR``)."""
    first, rest = _split_first(protocol.INVISIBLE_IN_NAMES.sub("", text).strip())
    return first.lstrip("/\\"), rest


# The first word as typed: with the invisible characters (and spaces) among them in front.
_TYPED_FIRST_RE = re.compile(f"(?:{protocol.INVISIBLE_IN_NAMES.pattern}|\\s)*\\S*")


def _first_word_as_typed(text: str) -> str:
    """The first word of ``text`` with its invisible characters, as the hint shows it
    (``\\u200bENTRAR``): the person sees why a line that reads ``ENTRAR`` was no command."""
    match = _TYPED_FIRST_RE.match(text.strip())
    assert match is not None  # the pattern matches any string
    return match.group()


def _backslash_as_slash(line: str) -> str:
    """``line`` with a backslash at its start read as the slash it meant (``\\entrar bob``
    is ``/entrar bob``) when a command follows it, or a word like one with a password;
    any other line (``\\o/ passei!``) is kept as typed."""
    typed = line.lstrip()
    if not typed.startswith("\\"):
        return line
    slashed = "/" + typed[1:]
    if starts_command(slashed) or resembled_password_command(_split_first(typed[1:])[0]):
        return slashed
    return line


def _converse(rest: str, logged_in: bool) -> Typed:
    if not logged_in:
        return Refuse(NOT_LOGGED_IN)
    names = rest.split()
    if not names:
        return Converse(None)
    if len(names) > 1:
        return Refuse(f"Erro: {CONVERSE_USAGE}")
    try:
        return Converse(protocol.validate_name(names[0]))
    except protocol.ProtocolError as error:
        return Refuse(f"Erro: {error.text}")


def _reply(rest: str, typed: str, logged_in: bool, replying_to: str | None, max_line: int) -> Typed | None:
    """``/r texto``: ``texto`` privately to whoever wrote privately last (tabs as spaces)."""
    if not logged_in:
        return Refuse(NOT_LOGGED_IN)
    if replying_to is None:
        return Refuse(NO_ONE_TO_REPLY)
    if not rest.strip():
        return Refuse(f"Erro: {REPLY_USAGE.format(name=replying_to)}")
    return _command(f"CHAT {replying_to} {as_spaces(rest)}", typed, False, max_line)


def _command(wire: str, typed: str, can_prompt: bool, max_line: int) -> Typed | None:
    """A command line in the protocol's syntax (``wire``), checked before it is sent; a
    refusal's usage is written the way the person typed the command (``/chat`` or ``CHAT``)."""
    slash = typed.startswith("/")
    words = wire.split(" ")
    word = _command_word(words[0])
    if word == "AJUDA" and len(words) == 1:
        return ShowHelp()
    if word == "AJUDA" and len(words) == 2 and words[1].casefold() in TEACHER_HELP_WORDS:
        return ShowHelp(teacher=True)
    if word in ACCOUNT_COMMANDS and (slash or len(words) == 1):
        return _account_command(word, len(words) == 1, can_prompt)
    if word == "NOVO" and typed.startswith("/") and len(words) > 2:  # never repeat them either
        return Refuse(NEW_ACCOUNT_ONE_NAME if can_prompt else NEW_ACCOUNT_ONE_NAME_PIPED)
    if word in PASSWORD_COMMANDS and len(words) > 3:  # never repeat them: one may be a password
        return Refuse(f"Erro: A senha não pode ter espaços. {usage(word, slash=slash)}")
    try:
        if can_prompt and word in PASSWORD_COMMANDS and word not in ACCOUNT_COMMANDS and len(words) == 2:
            return AskPassword(word, protocol.validate_name(words[1]))
        if refusal := too_long(wire, typed, max_line):
            return refusal
        command = parsing.parse_command(wire)
    except protocol.ProtocolError as error:
        return Refuse(f"Erro: {usage(error.usage, slash=slash) if error.usage else error.text}")
    return None if command is None else Send(wire, command)


def _account_command(word: str, alone: bool, can_prompt: bool) -> Typed:
    """``/senha`` or ``/excluir`` (or the word alone): every password they take is asked
    hidden; more on the line is refused, never repeated (it may be a password)."""
    if not alone:
        return Refuse(ACCOUNT_COMMAND_ALONE.format(command=f"/{word.lower()}"))
    if not can_prompt:
        return Refuse(ACCOUNT_COMMAND_PIPED.format(syntax=protocol.COMMAND_HELP[word].syntax))
    return AskPassword(word, "")


def usage(word: str, *, slash: bool) -> str:
    """``Uso: <syntax>`` of the command ``word``, from the command table: as the client
    takes it (``/chat <usuário> <mensagem>``) with ``slash``, else as on the wire."""
    syntax = protocol.COMMAND_HELP[word].syntax
    return f"Uso: {slash_form(syntax) if slash else syntax}"


def too_long(wire: str, typed: str, max_line: int) -> Refuse | None:
    """The refusal of a line over the server's limit, counted in characters of ``typed``.

    The limit is in bytes (an accent takes two): say how many of the typed
    characters fit, the ones the person would keep by deleting from the end.
    """
    excess = len(protocol.encode_line(wire)) - max_line
    if not max_line or excess <= 0:
        return None
    fit = len(typed)
    while excess > 0 and fit > 0:
        fit -= 1
        excess -= len(typed[fit].encode(protocol.ENCODING, "surrogatepass"))
    return Refuse(
        f"Erro: linha longa demais: tem {len(typed)} caracteres e cabem {fit}; "
        "não foi enviada (↑ a traz de volta)."
    )


def _unknown_slash(word: str) -> Refuse:
    """``/word`` that is no command: the BatChat way for IRC habits, else the closest command."""
    upper = _command_word(word)
    if upper in IRC_HINTS:
        return Refuse(IRC_HINTS[upper])
    return Refuse(unknown_command_hint(word))


def closest_slash_command(word: str) -> str | None:
    """The ``/command`` ``word`` most likely meant (``lsta`` -> ``/lista``, ``privada`` ->
    ``/privadas``, the client's own word), or ``None``."""
    suggestion = protocol.closest_command(word, SUGGESTED_WORDS)
    return f"/{SLASH_ALIASES.get(suggestion, suggestion).lower()}" if suggestion else None


def unknown_command_hint(word: str, slash: str = "/", meant: str | None = None) -> str:
    """What to say about ``/word`` (``word``, with ``slash`` empty) when it is no command,
    suggesting ``meant`` if known; the rest of the line is never repeated: a mistyped
    ``ENTRAR`` may precede a password. Invisible characters are shown as escapes."""
    if not word:
        return "Depois da / vem o comando, como em /lista; /ajuda mostra todos."
    shown = protocol.INVISIBLE_IN_NAMES.sub(
        lambda match: match.group().encode("unicode_escape").decode("ascii"),
        make_visible(word[:protocol.MAX_NAME_LENGTH]),
    )
    unknown = f"Comando desconhecido: {slash}{shown}."
    if suggestion := (f"/{meant.lower()}" if meant else closest_slash_command(word)):
        return f"{unknown} Você quis dizer {suggestion}?"
    return f"{unknown} /ajuda mostra os comandos; um texto que começa com / vai com //."


def history_entry(line: str) -> str | None:
    """What ↑ brings back of a typed line, sent or refused: all of it, but never a password.

    The rule, with ``/`` (or ``\\`` read as it) at the start or without it:

    - a ``NOVO`` or ``ENTRAR`` command (:func:`starts_command`): only the word
      and the name are kept (``ENTRAR alice s3nh4`` and ``/entrar alice s3nh4``
      keep ``ENTRAR alice`` and ``/entrar alice``; ``\\entrar alice s3nh4``
      keeps ``/entrar alice``); recalled, it asks for the password;
    - any other line whose first word may stand for them
      (:func:`resembled_password_command`, in any case and script) and that has
      a word after it long enough to be a password (:func:`_may_hold_password`:
      ``ENTAR alice s3nh4-x``, ``ENTRARbob s3nh4-x``, ``/login bob s3nh4-x``,
      ``entrar alice s3nh4-x`` in lower case, which goes out as text): nothing
      is kept, since that word may be a password;
    - an indented line (a space or a tab first) is kept as typed, unless its
      first word (with or without a ``/`` or ``\\``) may stand for them and
      more follows;
    - any other line, text and refused lines included, is kept whole
      (``entrar na sala``, ``ENTRE NÓS``): nothing typed is lost.
    """
    if line[:1].isspace():  # indented: text, kept with its shape, unless it may hold a password
        first, rest = _first_word_as_read(line)  # read without a leading / or \\
        return None if rest and resembled_password_command(first) else line.removesuffix("\r")
    line = tidy_typed(_backslash_as_slash(line))
    if (word := starts_command(line)) in PASSWORD_COMMANDS:
        return " ".join(line.split(" ")[:words_before_password(word or "")])
    first, rest = _first_word_as_read(line)
    if _may_hold_password(rest) and resembled_password_command(first):
        return None
    return line


def _may_hold_password(rest: str) -> bool:
    """Whether a word of ``rest`` could be a password: as long as the shortest one."""
    return any(len(word) >= protocol.MIN_PASSWORD_LENGTH for word in rest.split())


def completions(line: str, begin: int, text: str, online: Iterable[str]) -> list[str]:
    """Tab's candidates for ``text``, the word starting at ``begin`` in ``line``.

    The first word completes to a command as the help shows it (``/li`` or
    ``li`` to ``/lista``; Tab on an empty line lists ``/ajuda``, ``/chat``...),
    or in capitals if begun in capitals (``CH`` to ``CHAT``); the word after
    ``LISTA`` to ``TODOS``; a word after ``/sala`` (or its subcommand), or one that
    starts with ``#``, to a room's name (``online`` holds them too: ``#grupo1``); any
    other word to the name of someone online, ignoring case.
    """
    before = line[:begin].split()
    if not before:
        if not text[:1].isupper():
            lower = text.removeprefix("/").lower()
            return [f"/{word} " for word in SLASH_WORDS if word.startswith(lower)]
        upper = text.upper()
        return [f"{word} " for word in protocol.COMMAND_WORDS if word.startswith(upper)]
    if len(before) == 1 and starts_command(line[:begin] + "x") == "LISTA":
        return ["TODOS "] if "TODOS".startswith(text.upper()) else []
    after_room_word = before[0].casefold() in ("/sala", "sala") and len(before) <= 2 and before[-1][:1] != "#"
    if text.startswith("#") or after_room_word:  # a room's name (they are among online: "#g1")
        key = text.removeprefix("#").casefold()
        rooms = {"#geral", *(name for name in online if name[:1] == "#")}
        return sorted(f"{name} " for name in rooms if name[1:].casefold().startswith(key))
    key = protocol.name_key(text)
    return sorted(f"{name} " for name in online if name[:1] != "#" and protocol.name_key(name).startswith(key))

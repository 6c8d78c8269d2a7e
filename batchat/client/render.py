"""From server lines (and the person's own echoes) to what the person reads.

Owns the look of every line: :class:`Style` and :class:`Shown` (plain for
scripts, coloured on a terminal), the rule of which lines show a time
(:class:`When`, applied in one place, :func:`timed`), the :class:`Clock`
through which every time shown is computed, :func:`make_visible` for text
from the network, the ``render_*`` functions, :func:`describe_moment` and the
client's :func:`help_text`. Pure: no I/O, no threads, no time but the injected clock.

Anyone may call it; it imports only :mod:`protocol`, :mod:`batchat.prices` and
:mod:`batchat.client.server_lines`.
"""

from __future__ import annotations

import datetime
import enum
import re
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass

import protocol
from batchat import formatting, prices
from batchat.client import server_lines

ME = "eu"  # how the person's own messages are labelled


# --- What a line on the screen is made of --------------------------------------------


class Style(enum.Enum):
    """A tone for part of a line; the value is its ANSI SGR code."""

    PLAIN = ""
    NOTICE = "2"  # dim: presence, confirmations, server notices
    ERROR = "31"  # red
    PRIVATE = "1;35"  # bold magenta: private messages, both ways
    SENDER = "1"  # bold: who wrote a public message
    MENTION = "1;33"  # bold yellow: my own name in someone's text
    ANNOUNCEMENT = "1;36"  # bold cyan: a teacher's announcement, and what changes for everyone


Part = tuple[Style, str]


class When(enum.Enum):
    """Which time a line shows: the client's one rule (docs/cliente.md, "A hora"),
    applied by :func:`timed` only."""

    NOW = "now"  # something that happened (from the server, or to the connection): [14:05] in front
    WRITTEN = "written"  # written before (history, kept, /privadas): carries the time it was written
    NONE = "none"  # the client's own answer to what was typed, or about itself; a row of the one above


@dataclass(frozen=True)
class Shown:
    """One line for the screen, as styled parts: plain for scripts, coloured on a terminal."""

    parts: tuple[Part, ...]
    when: When = When.NONE

    @classmethod
    def of(cls, text: str, style: Style = Style.PLAIN, when: When = When.NONE) -> Shown:
        return cls(((style, text),), when)

    def plain(self) -> str:
        return "".join(text for _, text in self.parts)

    def painted(self) -> str:
        return "".join(
            f"\x1b[{style.value}m{text}\x1b[0m" if style.value and text else text
            for style, text in self.parts
        )


def news(text: str, style: Style = Style.NOTICE) -> Shown:
    """A line that says something that happened: it shows the time (:data:`When.NOW`)."""
    return Shown.of(text, style, When.NOW)


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


def timed(shown: Shown, clock: Clock) -> Shown:
    """``shown`` as printed, by the one rule of times: a line that says something that
    happened (:data:`When.NOW`) starts with the time it is shown, ``[14:05]``; one
    written before already carries its own time; the client's answers to what was
    typed, its words about itself and the rows that go on from the line above show
    none. The line returned carries its time (:data:`When.WRITTEN`): timing it
    again changes nothing."""
    if shown.when is not When.NOW:
        return shown
    stamp = clock.local_now().strftime("[%H:%M] ")
    return Shown(((Style.PLAIN, stamp), *shown.parts), When.WRITTEN)


# --- From server lines to what the person reads ------------------------------------------


def make_visible(text: str) -> str:
    """Show control characters from the network as escapes, never interpret them.

    Another user's ESC sequence must not move our cursor or recolour our
    terminal; ``\\x1b[2J`` is printed as those characters.
    """
    return protocol.FORBIDDEN_CHARS.sub(
        lambda match: match.group().encode("unicode_escape").decode("ascii"), text
    )


def parse_visible(line: str) -> server_lines.ServerLine:
    """Split a server line, with its control characters already made visible."""
    return server_lines.parse_server_line(make_visible(line))


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
            return "Você saiu do chat. Até logo!" if own_name else "Até logo!"
        case "AJUDA":
            return None  # the INFO lines before it were the answer
        case "PING":
            return "O servidor está respondendo."
    return f"OK {command} {detail}".rstrip()


def stored_recipient(detail: str) -> tuple[str, bool]:
    """``OK CHAT <detail>``: the recipient, and whether the message was kept for later."""
    name, _, rest = detail.partition(" ")
    return name, rest == formatting.STORED


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
    mark: str, sender_style: Style, fields: tuple[str, ...], own_name: str | None, clock: Clock,
    *, private: bool = False,
) -> Shown:
    """A message from before: ``[histórico] [ontem 21:14] alice: oi``; a ``private`` one with
    the arrow, as live: ``[enquanto você estava fora] [ontem 21:14] alice → eu: oi``."""
    sender, when, text = fields
    moment = protocol.parse_timestamp(when)
    stamp = (describe_moment(moment, clock) if moment is not None else None) or when
    if not private and own_name and protocol.name_key(sender) == protocol.name_key(own_name):
        sender = ME  # my own public message, replayed: shown as when I sent it
    label = f"{sender} → {ME}:" if private else f"{sender}:"
    return Shown(
        ((Style.NOTICE, f"{mark} [{stamp}]"), (Style.PLAIN, " "), (sender_style, label),
         (Style.PLAIN, " "), *mention_parts(text, own_name)),
        When.WRITTEN,
    )


def render_account(name: str, state: str, seen: str, clock: Clock) -> Shown:
    """A ``USUARIO`` line of ``LISTA TODOS``, as a row of a list (indented, not styled like
    a message from that person): ``  bob: offline, visto por último ontem 21:14``."""
    if state == formatting.ONLINE:
        return Shown(((Style.PLAIN, f"  {name}: online agora"),))
    moment = protocol.parse_timestamp(seen) if seen else None
    if moment is None:
        return Shown(((Style.PLAIN, f"  {name}:"), (Style.NOTICE, " offline, nunca entrou")))
    when = describe_moment(moment, clock, today="hoje") or seen
    return Shown(((Style.PLAIN, f"  {name}:"), (Style.NOTICE, f" offline, visto por último {when}")))


def render_accounts(accounts: list[server_lines.ServerLine], clock: Clock) -> list[Shown]:
    """The answer to ``LISTA TODOS``: ``Contas (3):``, then one indented row per account."""
    header = news(f"Contas ({len(accounts)}):" if accounts else "Nenhuma conta.")
    return [header, *(render_account(*parsed.fields, clock) for parsed in accounts)]


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
                  *mention_parts(text, own_name)), When.NOW)


def render_public(sender: str, text: str, own_name: str | None) -> Shown:
    """``bob: oi``."""
    return Shown(((Style.SENDER, f"{sender}:"), (Style.PLAIN, " "), *mention_parts(text, own_name)), When.NOW)


PRESENCE_NAMES = 3  # names a grouped line of joins or leaves shows; the rest are counted


def render_presence(names: list[str], *, joined: bool, room: str | None = None) -> Shown:
    """Who came in (``joined``) or left the chat, or a ``room``: ``-- ana entrou no chat.`` for
    one; ``-- ana e bia entraram no chat.``; past :data:`PRESENCE_NAMES`, ``-- ana, bia, caio e
    mais 21 entraram no chat.``; in a room, ``-- ana e bia saíram da sala #grupo1.``."""
    where = ("na" if joined else "da") + f" sala {room}" if room else ("no" if joined else "do") + " chat"
    if len(names) == 1:
        return news(f"-- {names[0]} {'entrou' if joined else 'saiu'} {where}.")
    listed = (f"{', '.join(names[:PRESENCE_NAMES])} e mais {len(names) - PRESENCE_NAMES}"
              if len(names) > PRESENCE_NAMES else _join_names(names))
    return news(f"-- {listed} {'entraram' if joined else 'saíram'} {where}.")


def render_parsed(
    parsed: server_lines.ServerLine, own_name: str | None, clock: Clock = SYSTEM_CLOCK
) -> Shown | None:
    """What the person reads for a line :func:`parse_visible` split; ``None`` for nothing.

    ``clock`` says what "today" and "ontem" are relative to, and in which zone.
    """
    match parsed.kind, parsed.fields:
        case "OK", (command, detail):
            text = render_ok(command, detail, own_name)
            return None if text is None else news(text)
        case "ERRO", (code, text):
            return news(f"Erro: {prices.error_text(code, text)}", Style.ERROR)
        case "MSG", (sender, text):
            return render_private(sender, ME, text, own_name)
        case "TODOS", (sender, text):
            return render_public(sender, text, own_name)
        case "ENTROU", (name,):
            return render_presence([name], joined=True)
        case "SAIU", (name,):
            return render_presence([name], joined=False)
        case "PENDENTE", fields:
            return render_past(AWAY_MARK, Style.PRIVATE, fields, own_name, clock, private=True)
        case "HISTORICO", fields:
            return render_past(HISTORY_MARK, Style.SENDER, fields, own_name, clock)
        case "USUARIO", (name, state, seen):
            return render_account(name, state, seen, clock)
        case "LIMITES", _:
            return None  # for programs: how fast they may send
        case "BATCHAT", (_, text):  # the greeting (the client's state shows the first one itself)
            return news(text)
        case _, fields:
            return news(" ".join(fields))


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
        return Shown((*shown.parts, (Style.NOTICE, f"  (guardada até {name} entrar)")), shown.when)
    return shown


def prompt_text(own_name: str | None, partner: str | None = None, room: str | None = None) -> str:
    """The prompt: ``> `` before login, ``alice> `` after, ``alice → bob> `` in a conversation,
    ``alice #grupo1> `` in a room other than #geral (``room``; a conversation keeps its form)."""
    if own_name is None:
        return "> "
    if partner:
        return f"{own_name} → {partner}> "
    return f"{own_name} {room}> " if room else f"{own_name}> "


def queued_prompt(prompt: str, waiting: int) -> str:
    """The prompt with the typed lines still waiting their turn: ``[3 linhas na fila] alice> ``."""
    if not waiting:
        return prompt
    return f"[{waiting} {'linha' if waiting == 1 else 'linhas'} na fila] {prompt}"


# What is text and what is a command (:mod:`batchat.client.typed` decides so), for AJUDA.
HELP_RULE = (
    'Texto sem / vai para todos: "bom dia!" é o mesmo que /todos bom dia!',
    "Comandos começam com /: /chat bob oi (ou /msg bob oi), /lista todos, /sair.",
    "Valem também as palavras da tabela em MAIÚSCULAS no início (CHAT bob oi) e",
    "o comando sozinho, em maiúsculas ou não (lista, sair, ajuda, ?).",
    "/conversa bob: o texto vai só para bob, até /conversa sozinho.",
    "/r oi: responde no privado a quem escreveu; /privadas: as últimas privadas.",
    "Para um texto que começa com /, use //.",
    "/sala #grupo1: o texto vai para a sala (ana #grupo1>); /sala volta a #geral.",
    "/salas: as salas e as não lidas; /sala criar|sair|quem|topico|mover #grupo1.",
)
# The room commands are in the rule's last two lines (the client takes /sala its own way, see
# batchat.client.rooms), not in the table: the whole help fits a 24-row terminal.
ROOM_WORDS = ("SALAS", "FALA", "SALA")


# The words a teacher's command takes as they are on the wire, in capitals (``PRIVADO NAO``,
# ``BANIR bob SEMPRE``, ``CARGO ana PROFESSOR``), typed in any case in the client (``/privado
# não``): each as the client reads it, and the position after the command word where a
# command takes one (anywhere else, such a word is a message's own).
WIRE_KEYWORDS = {
    "nao": "NAO", "não": "NAO", "sim": "SIM", "sempre": "SEMPRE",
    "professor": "PROFESSOR", "professora": "PROFESSOR", "aluno": "ALUNO", "aluna": "ALUNO",
}
KEYWORD_POSITION = {"PRIVADO": 1, "BANIR": 2, "CARGO": 2}  # (LISTA takes todos in any case)
_WIRE_KEYWORD_RE = re.compile(r"\b(?:TODOS|NAO|SIM|SEMPRE|PROFESSOR|ALUNO)\b")
PASSWORD_ARGUMENTS = ("<senha>", "<atual>", "<nova>")  # asked hidden, never typed on the line


def words_before_password(word: str) -> int:
    """How many words of the command ``word``'s line come before its first password, by the
    command table: ``ENTRAR alice <senha>`` two, ``SENHA <atual> <nova>`` one."""
    syntax = protocol.COMMAND_HELP[word].syntax.split(" ")
    return next((index for index, argument in enumerate(syntax) if argument in PASSWORD_ARGUMENTS), len(syntax))


def slash_form(text: str) -> str:
    """A command as the person types it in the client: ``CHAT bob oi`` -> ``/chat bob oi``,
    ``LISTA [TODOS]`` -> ``/lista [todos]``, ``PRIVADO NAO|SIM`` -> ``/privado nao|sim`` (the
    command table is written as on the wire)."""
    word, _, rest = text.partition(" ")
    if word == "LISTA" or word in KEYWORD_POSITION:
        rest = _WIRE_KEYWORD_RE.sub(lambda match: match.group().lower(), rest)
    return f"/{word.lower()} {rest}".rstrip()


HELP_NOTES = (
    "Senhas (/novo, /entrar sem ela, /senha, /excluir) são pedidas sem aparecer.",
    "Tab completa comandos e nomes online; ↑ e ↓ percorrem o histórico.",
)
# The teacher's commands have a help of their own, /ajuda professor: the client does not
# know who is a teacher (the server's AJUDA lists only what the asker may use; a student
# gets ERRO SEM_PERMISSAO), and a student's help must fit a small screen.
TEACHER_HELP = "/ajuda professor"
TEACHER_POINTER = f"Professores: {TEACHER_HELP} mostra os comandos de professor."
TEACHER_HEADING = ("Comandos de professor (o servidor diz quem é professor; um aluno que os usa "
                   "recebe uma recusa):")
HELP_INDENT = "  "  # under a command: its meaning and example, and where a sentence goes on


def _help_rows(*, teacher: bool) -> list[tuple[str, str, str]]:
    """(syntax, meaning, example) per command, the teacher's (``teacher``) or everyone's,
    as typed in the client: a password is never on the line there (``/novo <usuário>``,
    ``/entrar alice``, ``/senha``), it is asked hidden."""
    rows = []
    for word, help in protocol.COMMAND_HELP.items():
        if (help.access is protocol.Access.TEACHER) != teacher:
            continue
        if word in ROOM_WORDS:
            continue
        syntax, example = slash_form(help.syntax).split(" "), slash_form(help.example).split(" ")
        hidden = sum(argument in PASSWORD_ARGUMENTS for argument in syntax)
        syntax = [argument for argument in syntax if argument not in PASSWORD_ARGUMENTS]
        rows.append((" ".join(syntax), help.meaning, " ".join(example[:len(example) - hidden])))
    return rows


def _fill(text: str, columns: int, indent: str = "") -> list[str]:
    """``text`` in rows of at most ``columns``, cut at spaces only, the rows after the first
    indented by :data:`HELP_INDENT` more (a word longer than a row gets a row of its own)."""
    return textwrap.wrap(
        text, width=columns, initial_indent=indent, subsequent_indent=indent + HELP_INDENT,
        break_long_words=False, break_on_hyphens=False,
    ) or [indent]


def _fill_all(texts: tuple[str, ...], columns: int) -> list[str]:
    return [row for text in texts for row in _fill(text, columns)]


def help_text(columns: int = 80, *, teacher: bool = False) -> list[str]:
    """The client's ``AJUDA`` for a screen ``columns`` wide: the rule for what is text and
    what is a command, then each command with its meaning and an example (``teacher``:
    the teacher's commands instead, ``/ajuda professor``). An aligned table when it fits
    (78 columns do); on a narrower screen, each command on a row of its own, its meaning
    and example on indented rows below, never run together; the sentences cut at spaces,
    with an indent."""
    if teacher:
        return [*_fill(TEACHER_HEADING, columns), *_help_table(_help_rows(teacher=True), columns)]
    table = _help_table(_help_rows(teacher=False), columns)
    return [*_fill_all(HELP_RULE, columns), *table, *_fill_all((*HELP_NOTES, TEACHER_POINTER), columns)]


def _help_table(rows: list[tuple[str, str, str]], columns: int) -> list[str]:
    """``rows`` aligned under a header, or, if that is wider than ``columns``, each command
    on a row of its own with its meaning and example indented below."""
    syntax_width = max(len(syntax) for syntax, _, _ in rows)
    meaning_width = max(len(meaning) for _, meaning, _ in rows)
    table = [
        f"{'comando':<{syntax_width}}  {'para quê':<{meaning_width}}  exemplo",
        *(f"{syntax:<{syntax_width}}  {meaning:<{meaning_width}}  {example}" for syntax, meaning, example in rows),
    ]
    if max(map(len, table)) <= columns:
        return table
    return [
        row for syntax, meaning, example in rows
        for row in (*_fill(syntax, columns), *_fill(meaning, columns, HELP_INDENT),
                    *_fill(f"ex.: {example}", columns, HELP_INDENT))
    ]

"""The client's logic without a terminal: rendering, typed lines, history, completion,
and :class:`cliente.ChatClient` against a fake server over a socketpair.

Table-driven like the protocol tests: data at the top of each class, one
``subTest`` per row.
"""

from __future__ import annotations

import datetime
import errno
import queue
import re
import socket
import tempfile
import threading
import time
import unicodedata
import unittest
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from batchat import client as cliente
import protocol
from batchat import server
from batchat import server as servidor
from batchat.client import AskPassword, Refuse, Send, ShowHelp, Shown, Style
from tests.support import TIMEOUT

TEXT_UTF8 = "ação 🦇"


def is_forbidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


# The client's clock in these tests: a fixed zone and a fixed "now", never the
# machine's, so every rendering below is the same on any day and in any TZ.
ZONE = datetime.timezone(datetime.timedelta(hours=-3), "BRT")  # São Paulo, no DST


def local_seconds(*fields: int, zone: datetime.tzinfo = ZONE) -> float:
    """Seconds since the epoch of a date and time in ``zone``."""
    return datetime.datetime(*fields, tzinfo=zone).timestamp()  # type: ignore[misc]


def stamp(*fields: int, zone: datetime.tzinfo = ZONE) -> str:
    """The wire form of a date and time in ``zone``: UTC ISO 8601."""
    return protocol.format_timestamp(local_seconds(*fields, zone=zone))


def fixed_clock(*fields: int, zone: datetime.tzinfo = ZONE) -> cliente.Clock:
    """A client clock stopped at that date and time in ``zone``."""
    now = local_seconds(*fields, zone=zone)
    return cliente.Clock(now=lambda: now, zone=zone)


NOW = local_seconds(2026, 11, 21, 15, 0)
CLOCK = fixed_clock(2026, 11, 21, 15, 0)


class ReplayOverlapTest(unittest.TestCase):
    # (public messages shown, history replayed, how many of those were shown already)
    CASES = [
        ("abc", "bcd", 2),
        ("abc", "abc", 3),
        ("abc", "xyz", 0),
        ("", "ab", 0),
        ("abc", "", 0),
        ("aba", "abaX", 3),  # repeats inside the overlap
        ("xa", "aa", 1),  # the second "a" is new, though it repeats the first
        ("ab", "b", 1),
    ]

    def test_overlap(self) -> None:
        for shown, replayed, expected in self.CASES:
            with self.subTest(shown=shown, replayed=replayed):
                self.assertEqual(cliente.replay_overlap(list(shown), list(replayed)), expected)


class RenderTest(unittest.TestCase):
    # (server line, own name, what the person reads; None prints nothing)
    LINES = [
        ("ENTROU alice", None, "-- alice entrou no chat."),
        ("OK PING", None, "O servidor está respondendo."),
        ("SAIU alice", None, "-- alice saiu do chat."),
        ("MSG alice oi", None, "alice → eu: oi"),
        ("MSG alice  oi  tudo ", "bob", "alice → eu:  oi  tudo "),
        (f"TODOS bob {TEXT_UTF8}", "alice", f"bob: {TEXT_UTF8}"),
        ("OK NOVO alice", None, "Conta alice criada. Agora entre com: ENTRAR alice"),
        ("OK ENTRAR alice", None, "Você entrou no chat como alice."),
        ("OK LISTA alice", "alice", "Ninguém mais está online."),
        ("OK LISTA alice bob", "alice", "Online agora: bob e você."),
        ("OK LISTA Alice bob", "alice", "Online agora: bob e você."),
        ("OK LISTA alice bob", "bob", "Online agora: alice e você."),
        ("OK LISTA alice bob carol", "alice", "Online agora: bob, carol e você."),
        ("OK CHAT bob", "alice", "Mensagem privada enviada para bob."),
        ("OK TODOS", "alice", "Mensagem enviada para todos."),
        ("OK SAIR", "alice", "Você saiu do chat. Até logo!"),
        ("OK AJUDA", None, None),
        ("OK FUTURO x y", None, "OK FUTURO x y"),
        ("OK FUTURO", None, "OK FUTURO"),
        ("ERRO ARGUMENTOS Uso: TODOS <mensagem>", None, "Erro: Uso: TODOS <mensagem>"),
        ("ERRO CREDENCIAIS Senha incorreta.", None, "Erro: Senha incorreta."),
        ("INFO Bem-vindo ao BatChat!", None, "Bem-vindo ao BatChat!"),
        ("BLA bla", None, "BLA bla"),
        # Control characters from the network are shown, never interpreted.
        ("MSG alice \x1b[2J", None, "alice → eu: \\x1b[2J"),
        ("TODOS bob a\u2028b", None, "bob: a\\u2028b"),
        ("INFO a\x07b", None, "a\\x07b"),
        ("ENTROU \x1b[31mmallory", None, "-- \\x1b[31mmallory entrou no chat."),
        # Messages from before, with their own time (NOW is 2026-11-21 15:00 local).
        (f"PENDENTE alice {stamp(2026, 11, 20, 21, 14)} oi", "bob",
         "[enquanto você estava fora] [ontem 21:14] alice: oi"),
        (f"PENDENTE alice {stamp(2026, 11, 21, 9, 2)} bom dia, bob", "bob",
         "[enquanto você estava fora] [09:02] alice: bom dia, bob"),
        (f"PENDENTE alice {stamp(2026, 11, 2, 8, 0)} oi", "bob", "[enquanto você estava fora] [02/11 08:00] alice: oi"),
        (f"PENDENTE alice {stamp(2025, 12, 31, 23, 59)} oi", "bob",
         "[enquanto você estava fora] [31/12/2025 23:59] alice: oi"),
        ("PENDENTE alice ontem oi", "bob", "[enquanto você estava fora] [ontem] alice: oi"),
        (f"PENDENTE alice {stamp(2026, 11, 21, 9, 2)} \x1b[2J", "bob",
         "[enquanto você estava fora] [09:02] alice: \\x1b[2J"),
        (f"HISTORICO carol {stamp(2026, 11, 21, 14, 58)} bom dia", "bob", "[histórico] [14:58] carol: bom dia"),
        ("INFO 2 mensagens privadas esperavam por você.", "bob", "2 mensagens privadas esperavam por você."),
        ("OK CHAT bob GUARDADA", "alice", "bob está offline: a mensagem foi guardada e será entregue quando entrar."),
        # LISTA TODOS.
        ("USUARIO alice ONLINE", "bob", "alice: online agora"),
        (f"USUARIO bob OFFLINE {stamp(2026, 11, 21, 12, 30)}", "alice", "bob: offline, visto por último hoje 12:30"),
        (f"USUARIO bob OFFLINE {stamp(2026, 11, 20, 12, 30)}", "alice", "bob: offline, visto por último ontem 12:30"),
        ("USUARIO carol OFFLINE", "alice", "carol: offline, nunca entrou"),
    ]
    # (server line, the style of each part)
    STYLES = [
        ("MSG bob oi alice!", [Style.PRIVATE, Style.PLAIN, Style.PLAIN, Style.MENTION, Style.PLAIN]),
        ("TODOS bob oi", [Style.SENDER, Style.PLAIN, Style.PLAIN]),
        ("ERRO CREDENCIAIS x", [Style.ERROR]),
        ("ENTROU bob", [Style.NOTICE]),
        ("INFO oi", [Style.NOTICE]),
        ("OK LISTA alice", [Style.NOTICE]),
        (f"PENDENTE bob {stamp(2026, 11, 21, 9, 2)} oi alice",
         [Style.NOTICE, Style.PLAIN, Style.PRIVATE, Style.PLAIN, Style.PLAIN, Style.MENTION]),
        (f"HISTORICO bob {stamp(2026, 11, 21, 9, 2)} oi", [Style.NOTICE, Style.PLAIN, Style.SENDER, Style.PLAIN, Style.PLAIN]),
    ]

    def test_render(self) -> None:
        for line, own_name, expected in self.LINES:
            with self.subTest(line=line, own_name=own_name):
                rendered = cliente.render(line, own_name, CLOCK)
                self.assertEqual(rendered, expected)
                if rendered is not None:
                    self.assertFalse(any(map(is_forbidden, rendered)), rendered)

    def test_styles(self) -> None:
        for line, styles in self.STYLES:
            with self.subTest(line=line):
                shown = cliente.render_parsed(cliente.parse_visible(line), "alice", CLOCK)
                assert shown is not None
                self.assertEqual([style for style, _ in shown.parts], styles)

    def test_help_lines_render_as_their_text(self) -> None:
        for line, help in zip(protocol.help_lines(), protocol.COMMAND_HELP.values()):
            with self.subTest(line=line):
                self.assertEqual(cliente.render(line, None), help.line())


class ShownTest(unittest.TestCase):
    SHOWN = Shown(((Style.SENDER, "bob:"), (Style.PLAIN, " oi "), (Style.MENTION, "alice")))

    def test_plain_has_no_escape_codes(self) -> None:
        self.assertEqual(self.SHOWN.plain(), "bob: oi alice")

    def test_painted_wraps_each_styled_part(self) -> None:
        self.assertEqual(self.SHOWN.painted(), "\x1b[1mbob:\x1b[0m oi \x1b[1;33malice\x1b[0m")

    def test_stamped_starts_with_the_time(self) -> None:
        when = datetime.datetime(2026, 11, 21, 9, 5, tzinfo=ZONE)
        self.assertEqual(self.SHOWN.stamped(when).plain(), "[09:05] bob: oi alice")

    def test_lines_with_their_own_time_are_not_stamped_again(self) -> None:
        line = f"HISTORICO bob {stamp(2026, 11, 21, 9, 2)} oi"
        shown = cliente.render_parsed(cliente.parse_visible(line), None, CLOCK)
        assert shown is not None
        self.assertEqual(shown.stamped(CLOCK.local_now()).plain(), "[histórico] [09:02] bob: oi")


class MomentTest(unittest.TestCase):
    """``describe_moment`` on the days where dates are easy to get wrong, in the zones
    furthest apart: "yesterday" across midnight and across a new year, last year,
    and a local day that differs from the UTC day."""

    KIRITIMATI = datetime.timezone(datetime.timedelta(hours=14), "LINT")  # UTC+14
    # (zone, now, the moment, what the person reads)
    CASES = [
        (ZONE, (2026, 11, 22, 0, 0, 30), (2026, 11, 21, 23, 59), "ontem 23:59"),
        (ZONE, (2026, 11, 22, 0, 0, 30), (2026, 11, 22, 0, 0), "00:00"),
        (ZONE, (2027, 1, 1, 0, 1), (2026, 12, 31, 23, 59), "ontem 23:59"),
        (ZONE, (2027, 1, 1, 0, 1), (2026, 12, 30, 8, 0), "30/12/2026 08:00"),
        (ZONE, (2027, 3, 5, 12, 0), (2026, 3, 5, 12, 0), "05/03/2026 12:00"),
        (ZONE, (2026, 11, 21, 15, 0), (2026, 11, 2, 8, 0), "02/11 08:00"),
        # 21:30 in São Paulo is already the next day in UTC: still today here.
        (ZONE, (2026, 11, 21, 23, 0), (2026, 11, 21, 21, 30), "21:30"),
        (KIRITIMATI, (2026, 11, 22, 0, 0, 30), (2026, 11, 21, 23, 59), "ontem 23:59"),
        # 09:00 in Kiritimati is still the day before in UTC: still today here.
        (KIRITIMATI, (2026, 11, 22, 10, 0), (2026, 11, 22, 9, 0), "09:00"),
        (KIRITIMATI, (2027, 1, 1, 0, 1), (2026, 12, 31, 23, 59), "ontem 23:59"),
    ]

    def test_moments(self) -> None:
        for zone, now, moment, expected in self.CASES:
            with self.subTest(zone=zone, now=now, moment=moment):
                clock = fixed_clock(*now, zone=zone)
                self.assertEqual(cliente.describe_moment(local_seconds(*moment, zone=zone), clock), expected)

    def test_today_is_named_when_asked(self) -> None:
        self.assertEqual(cliente.describe_moment(local_seconds(2026, 11, 21, 9, 2), CLOCK, "hoje"), "hoje 09:02")

    def test_a_moment_the_platform_cannot_show_is_shown_as_sent(self) -> None:
        line = "USUARIO bob OFFLINE 9999-12-31T23:59:59Z"
        far = cliente.Clock(now=lambda: NOW, zone=datetime.timezone(datetime.timedelta(hours=14)))
        self.assertEqual(cliente.render(line, "alice", far), "bob: offline, visto por último 9999-12-31T23:59:59Z")


class EchoTest(unittest.TestCase):
    def test_own_messages(self) -> None:
        private = protocol.PrivateMessage("Bob", "oi")
        self.assertEqual(cliente.render_echo(private, "bob").plain(), "eu → bob: oi")
        self.assertEqual(cliente.render_echo(private).plain(), "eu → Bob: oi")
        self.assertEqual(cliente.render_echo(protocol.Broadcast("oi a todos")).plain(), "eu: oi a todos")
        self.assertEqual(cliente.render_echo(private, "bob GUARDADA").plain(),
                         "eu → bob: oi  (guardada até bob entrar)")


class MentionTest(unittest.TestCase):
    # (text, own name, the parts marked as mentions)
    TEXTS = [
        ("oi alice", "alice", ["alice"]),
        ("oi ALICE, tudo?", "alice", ["ALICE"]),
        ("alice.", "alice", ["alice"]),
        ("alice alice", "alice", ["alice", "alice"]),
        ("malice", "alice", []),
        ("alice_2", "alice", []),
        ("alice-b", "alice", []),
        ("x.alice", "alice", []),
        ("oi a.b", "a.b", ["a.b"]),
        ("oi axb", "a.b", []),  # the "." in a name is literal
        ("oi alice", None, []),
    ]

    def test_mentions(self) -> None:
        for text, own_name, mentions in self.TEXTS:
            with self.subTest(text=text, own_name=own_name):
                parts = cliente.mention_parts(text, own_name)
                self.assertEqual("".join(part for _, part in parts), text)
                self.assertEqual([part for style, part in parts if style is Style.MENTION], mentions)


class MakeVisibleTest(unittest.TestCase):
    # (text from the network, what is printed)
    TEXTS = [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\tb", "a\\tb"),
        ("a\rb", "a\\rb"),
        ("a\nb", "a\\nb"),
        ("\x00", "\\x00"),
        ("\x07", "\\x07"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("\x9b", "\\x9b"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("a\u202eb", "a\\u202eb"),
        ("", ""),
        (TEXT_UTF8, TEXT_UTF8),
        ("a\u00a0b", "a\u00a0b"),
        ("\\x1b", "\\x1b"),  # a typed backslash is left alone
    ]

    def test_make_visible(self) -> None:
        for text, expected in self.TEXTS:
            with self.subTest(text=text):
                visible = cliente.make_visible(text)
                self.assertEqual(visible, expected)
                self.assertFalse(any(map(is_forbidden, visible)), visible)


class InterpretTest(unittest.TestCase):
    LOGIN = protocol.Login("alice", "senha123")
    # (typed line, a person at a terminal?, what the client does)
    LINES = [
        ("", True, None),
        ("   ", True, None),
        ("?", True, ShowHelp()),
        ("ajuda", False, ShowHelp()),
        ("ENTRAR alice", True, AskPassword("ENTRAR", "alice")),
        ("  novo  Alice ", True, AskPassword("NOVO", "Alice")),
        ("ENTRAR alice senha123", True, Send("ENTRAR alice senha123", LOGIN)),
        ("entrar alice senha123", False, Send("entrar alice senha123", LOGIN)),
        ("ENTRAR alice", False, Refuse("Erro: Uso: ENTRAR <usuário> <senha>")),  # no one to ask
        ("ENTRAR a/b", True, Refuse("Erro: Nome inválido: use de 1 a 20 letras, dígitos, '_', '-' ou '.'.")),
        ("SAIR", True, Send("SAIR", protocol.Quit())),
        (" sair ", True, Send("sair", protocol.Quit())),
        ("SAIR\r", True, Send("SAIR", protocol.Quit())),  # CRLF input
        ("sair\t", True, Send("sair", protocol.Quit())),
        ("SAIR agora", True, Refuse("Erro: Uso: SAIR")),
        ("CHAT bob  oi ", True, Send("CHAT bob oi ", protocol.PrivateMessage("bob", "oi "))),
        ("CHAT\tbob\u00a0oi", True, Send("CHAT bob oi", protocol.PrivateMessage("bob", "oi"))),
        ("TODOS\u00a0oi", True, Send("TODOS oi", protocol.Broadcast("oi"))),
        ("TODOS " + "x" * 2041, True, Send("TODOS " + "x" * 2041, protocol.Broadcast("x" * 2041))),
        ("TODOS " + "x" * 2042, True, Refuse(
            "Erro: linha longa demais (o máximo é 2047 bytes); não foi enviada."
        )),
        ("CHAT bob", True, Refuse("Erro: Uso: CHAT <usuário> <mensagem>")),
        ("AJUDA agora", True, Refuse("Erro: Uso: AJUDA")),
    ]
    # (typed line, text the refusal holds): typos get the closest command
    HINTS = [
        ("ENTRA alice", "Você quis dizer ENTRAR?"),
        ("lsta", "Você quis dizer LISTA?"),
        ("saır", "Você quis dizer SAIR?"),  # a lookalike is not SAIR: nothing is sent
        ("ſair", "Você quis dizer SAIR?"),
        ("tchau", "Você quis dizer SAIR?"),
        ("oi gente", "Para falar com todos: TODOS <mensagem>."),
        ("ENTRARbob senha123", "Você quis dizer ENTRAR?"),
        ("\x1b[2J", "Comando desconhecido: \\x1b[2J."),
    ]

    def test_interpret(self) -> None:
        for line, can_prompt, expected in self.LINES:
            with self.subTest(line=line, can_prompt=can_prompt):
                self.assertEqual(cliente.interpret(line, can_prompt), expected)

    def test_typos_get_hints_and_are_not_sent(self) -> None:
        for line, hint in self.HINTS:
            with self.subTest(line=line):
                result = cliente.interpret(line, True)
                assert isinstance(result, Refuse), result
                self.assertIn(hint, result.text)
                self.assertFalse(any(map(is_forbidden, result.text)), result.text)
                self.assertNotIn("senha123", result.text, "the rest of the line is never repeated")


class HistoryEntryTest(unittest.TestCase):
    # (typed line, what history keeps)
    LINES = [
        ("ENTRAR alice senha123", "ENTRAR alice"),
        ("entrar  alice   senha123  ", "entrar alice"),
        ("NOVO bob s3nh4-forte", "NOVO bob"),
        ("novo\tbob\tsenha123", "novo bob"),
        ("ENTRAR alice", "ENTRAR alice"),
        ("ENTRAR", "ENTRAR"),
        # A line that starts with no command is not kept: it may be a mistyped ENTRAR.
        ("ENTAR alice senha123", None),
        ("ENTRARbob senha123", None),
        ("LOGIN bob senha123", None),
        ("oi gente", None),
        ("entrar\talice senha123\r", "entrar alice"),
        ("?", "?"),
        ("TODOS ENTRAR alice senha123", "TODOS ENTRAR alice senha123"),
        ("CHAT bob oi", "CHAT bob oi"),
        ("LISTA", "LISTA"),
    ]

    def test_history_entry(self) -> None:
        for line, expected in self.LINES:
            with self.subTest(line=line):
                self.assertEqual(cliente.history_entry(line), expected)


class FakeReadline:
    def __init__(self) -> None:
        self.history: list[str] = []

    def add_history(self, line: str) -> None:
        self.history.append(line)


class InputHistoryTest(unittest.TestCase):
    def setUp(self) -> None:
        temporary = tempfile.TemporaryDirectory()  # not enterContext: that is Python 3.11+
        self.addCleanup(temporary.cleanup)
        folder = Path(temporary.name)
        self.path = folder / "estado" / "batchat" / "historico"
        self.warnings: list[str] = []

    def history(self) -> tuple[cliente.InputHistory, FakeReadline]:
        readline = FakeReadline()
        history = cliente.InputHistory(self.path, readline, self.warnings.append)
        history.load()
        return history, readline

    def test_lines_are_kept_without_passwords_or_repeats(self) -> None:
        history, readline = self.history()
        for line in ["ENTRAR alice senha123", "LISTA", "LISTA", "  ", "TODOS oi"]:
            history.add(line)
        self.assertEqual(readline.history, ["ENTRAR alice", "LISTA", "TODOS oi"])
        self.assertEqual(self.path.read_text(), "ENTRAR alice\nLISTA\nTODOS oi\n")
        self.assertEqual(self.path.stat().st_mode & 0o777, 0o600)
        self.assertEqual(self.path.parent.stat().st_mode & 0o777, 0o700)

    def test_loading_trims_and_heals_the_file(self) -> None:
        self.path.parent.mkdir(parents=True)
        old = [f"CHAT bob {n}" for n in range(cliente.HISTORY_LENGTH + 5)] + ["NOVO x senha123"]
        self.path.write_text("\n".join(old) + "\n")
        _, readline = self.history()
        self.assertEqual(len(readline.history), cliente.HISTORY_LENGTH)
        self.assertEqual(readline.history[-1], "NOVO x")
        self.assertEqual(self.path.read_text().splitlines(), readline.history)
        self.assertEqual(self.warnings, [])

    def test_an_unwritable_file_is_reported_once(self) -> None:
        self.path.parent.parent.mkdir(parents=True)
        self.path.parent.write_text("not a folder")
        history, readline = self.history()
        history.add("LISTA")
        history.add("TODOS oi")
        self.assertEqual(readline.history, ["LISTA", "TODOS oi"], "history still works in memory")
        self.assertEqual(len(self.warnings), 1, self.warnings)
        self.assertRegex(self.warnings[0], r"^Não foi possível (ler|gravar) o histórico .*historico")

    def test_history_path(self) -> None:
        self.assertEqual(
            cliente.history_path({"XDG_STATE_HOME": "/estado", "HOME": "/casa"}),
            Path("/estado/batchat/historico"),
        )
        self.assertEqual(
            cliente.history_path({"XDG_STATE_HOME": "", "HOME": "/casa"}),
            Path("/casa/.local/state/batchat/historico"),
        )


class CompletionsTest(unittest.TestCase):
    ONLINE = ["bob", "Bruna", "carol", "ana.b"]
    # (line, where the word starts, the word, candidates)
    CASES = [
        ("", 0, "", [f"{word} " for word in protocol.COMMAND_WORDS]),
        ("ch", 0, "ch", ["CHAT "]),
        ("  en", 2, "en", ["ENTRAR "]),
        ("T", 0, "T", ["TODOS "]),
        ("x", 0, "x", []),
        ("CHAT b", 5, "b", ["Bruna ", "bob "]),
        ("CHAT BO", 5, "BO", ["bob "]),
        ("TODOS oi ca", 9, "ca", ["carol "]),
        ("TODOS oi ana.", 9, "ana.", ["ana.b "]),
        ("CHAT z", 5, "z", []),
    ]

    def test_completions(self) -> None:
        for line, begin, text, expected in self.CASES:
            with self.subTest(line=line):
                self.assertEqual(cliente.completions(line, begin, text, self.ONLINE), expected)


class SmallFunctionsTest(unittest.TestCase):
    def test_retry_delays_double_up_to_thirty_seconds(self) -> None:
        delays = cliente.retry_delays()
        self.assertEqual([next(delays) for _ in range(8)], [1, 2, 4, 8, 16, 30, 30, 30])

    def test_display_width(self) -> None:
        for text, width in [("abc", 3), ("ação", 4), ("a\u0303", 1), ("日本", 4), ("", 0)]:
            with self.subTest(text=text):
                self.assertEqual(cliente.display_width(text), width)

    def test_use_colour(self) -> None:
        cases = [
            (True, {}, True), (False, {}, False), (True, {"NO_COLOR": "1"}, False),
            (True, {"NO_COLOR": ""}, True), (True, {"TERM": "dumb"}, False),
        ]
        for is_terminal, environ, expected in cases:
            with self.subTest(is_terminal=is_terminal, environ=environ):
                self.assertEqual(cliente.use_colour(is_terminal, environ), expected)

    def test_network_errors_in_portuguese(self) -> None:
        refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        self.assertEqual(cliente.describe_os_error(refused), "conexão recusada")
        self.assertEqual(cliente.describe_os_error(socket.timeout()), "tempo esgotado")
        self.assertEqual(cliente.describe_os_error(OSError(errno.EACCES, "x")), "x")

    def test_help_fits_eighty_columns_with_an_example_per_command(self) -> None:
        lines = cliente.help_text()
        self.assertTrue(all(cliente.display_width(line) <= 80 for line in lines), lines)
        for help in protocol.COMMAND_HELP.values():
            with self.subTest(command=help.syntax):
                (row,) = [line for line in lines if line.startswith(f"  {help.syntax} ")]
                self.assertTrue(row.endswith(help.example), row)


# --- ChatClient against a fake server --------------------------------------------------------


class ScriptedScreen(cliente.PlainScreen):
    """The keyboard is a queue of lines; what would be printed goes to another queue."""

    def __init__(self) -> None:
        super().__init__(colour=False)
        self.typed: queue.Queue[str | None] = queue.Queue()
        self.printed: queue.Queue[str] = queue.Queue()

    def show(self, shown: Shown) -> None:
        self.printed.put(shown.plain())

    def read_line(self) -> str:
        line = self.typed.get()
        if line is None:
            raise EOFError
        return line

    def wait_for(self, pattern: str) -> str:
        """The next printed line matching ``pattern``; fail after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while True:
            try:
                line = self.printed.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"nothing matched {pattern!r}; printed: {seen}") from None
            seen.append(line)
            if re.search(pattern, line):
                return line


class FakeServerTestCase(unittest.TestCase):
    """A ChatClient whose server is the test, at the other end of a socketpair."""

    def start_client(
        self, *, interactive: bool = False, reconnect: bool = False, lockstep: bool = False,
        address: tuple[str, int] = ("127.0.0.1", 9),
    ) -> None:
        """A client on a socketpair; ``lockstep`` as for piped input (one answer at a time)."""
        self.server_end, client_end = socket.socketpair()
        self.server_end.settimeout(TIMEOUT)
        self.addCleanup(self.server_end.close)
        self.screen = ScriptedScreen()
        self.client = cliente.ChatClient(
            address, self.screen, interactive=interactive, reconnect=reconnect,
            can_prompt=not lockstep, clock=CLOCK,
        )
        self.status: queue.Queue[int] = queue.Queue()
        thread = threading.Thread(
            target=lambda: self.status.put(self.client.run(cliente.Link(client_end))), daemon=True
        )
        thread.start()
        self.addCleanup(self.screen.typed.put, None)  # the keyboard thread ends at EOF
        self.server_lines = self.server_end.makefile("r", encoding="utf-8", newline="\n")
        self.push("INFO Bem-vindo")

    def receive(self) -> str:
        return self.server_lines.readline().rstrip("\n")

    def type_and_receive(self, *lines: str) -> None:
        """Type ``lines`` and check the server gets each one, in order."""
        for line in lines:
            self.screen.typed.put(line)
        for line in lines:
            self.assertEqual(self.receive(), line)

    def hang_up(self) -> None:
        self.server_lines.close()  # the socket's file descriptor closes with its last user
        self.server_end.close()

    def push(self, *lines: str) -> None:
        self.server_end.sendall("".join(line + "\n" for line in lines).encode())

    def exit_status(self) -> int:
        return self.status.get(timeout=TIMEOUT)

    def log_in(self) -> None:
        self.screen.typed.put("ENTRAR alice senha123")
        self.assertEqual(self.receive(), "ENTRAR alice senha123")
        self.push("OK ENTRAR alice")
        self.screen.wait_for(r"Você entrou no chat como alice\.$")


class ChatClientTest(FakeServerTestCase):
    def test_own_message_echoed_once_the_server_confirms_it(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT Bob olá")
        self.push("TODOS carol enquanto isso", "OK CHAT bob")
        self.screen.wait_for(r"^\[\d\d:\d\d\] carol: enquanto isso$")
        self.screen.wait_for(r"^\[\d\d:\d\d\] eu → bob: olá$")  # the name as the server has it

    def test_refused_command_is_not_echoed(self) -> None:
        self.start_client()
        self.type_and_receive("TODOS primeiro", "TODOS segundo")
        self.push("ERRO LIMITE Devagar.", "OK TODOS")
        self.screen.wait_for(r"Erro: Devagar\.$")
        self.assertRegex(self.screen.wait_for(r"eu:"), r"eu: segundo$")

    def test_online_names_follow_the_server(self) -> None:
        self.start_client(interactive=True)
        self.log_in()
        self.assertEqual(self.receive(), "LISTA", "asked once after login, for Tab")
        self.push("OK LISTA alice bob")
        self.screen.wait_for(r"Online agora: bob e você\.$")
        self.assertEqual(self.client.online_names(), {"bob"})
        self.push("ENTROU carol", "ENTROU dani", "SAIU bob")
        self.screen.wait_for(r"-- bob saiu do chat\.$")
        self.assertEqual(self.client.online_names(), {"carol", "dani"})

    def test_lista_todos_lists_accounts_and_leaves_the_online_names_alone(self) -> None:
        self.start_client(interactive=True)
        self.log_in()
        self.assertEqual(self.receive(), "LISTA")
        self.push("OK LISTA alice bob")
        self.type_and_receive("LISTA TODOS")
        self.push("USUARIO alice ONLINE", "USUARIO bob ONLINE", "USUARIO carol OFFLINE", "OK LISTA TODOS", "OK PING")
        self.screen.wait_for(r"^\[\d\d:\d\d\] carol: offline, nunca entrou$")
        self.screen.wait_for(r"O servidor está respondendo\.$")  # OK LISTA TODOS printed nothing
        self.assertEqual(self.client.online_names(), {"bob"}, "not {'TODOS'}")

    def test_history_replayed_after_a_reconnection_shows_only_what_is_new(self) -> None:
        when = stamp(2026, 11, 21, 9, 2)
        with fast_retries(), socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.push(f"HISTORICO carol {when} oi", "TODOS bob oi")  # "oi" twice: both shown
            self.screen.wait_for(r"\[histórico\] \[09:02\] carol: oi$")
            self.screen.wait_for(r"bob: oi$")
            self.type_and_receive("TODOS minha")
            self.push("OK TODOS")
            self.screen.wait_for(r"eu: minha$")
            self.hang_up()
            second, _ = listener.accept()
            with second, second.makefile("r", encoding="utf-8") as lines:
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n")
                second.sendall(b"OK ENTRAR alice\n")
                self.assertEqual(lines.readline(), "PING\n", "asked, to mark the end of the replay")
                replay = [f"HISTORICO {who} {when} {text}" for who, text in
                          [("bob", "oi"), ("alice", "minha"), ("bob", "oi"), ("dani", "durante a queda")]]
                second.sendall("".join(line + "\n" for line in [*replay, "OK PING", "INFO depois"]).encode())
                self.screen.wait_for(r"De volta ao chat como alice\.$")
                # Shown before: bob's "oi" and "minha"; new: another "oi" from bob, and dani's.
                self.assertRegex(self.screen.wait_for(r"histórico"), r"\] bob: oi$")
                self.assertRegex(self.screen.wait_for(r"histórico"), r"\] dani: durante a queda$")
                self.assertRegex(self.screen.wait_for(r"."), r"depois$", "OK PING itself shows nothing")
                self.screen.typed.put("SAIR")
                self.assertEqual(lines.readline(), "SAIR\n")
                second.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_a_message_kept_for_later_is_echoed_as_such(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT bob oi")
        self.push("OK CHAT bob GUARDADA")
        self.screen.wait_for(r"eu → bob: oi  \(guardada até bob entrar\)$")

    def test_unconfirmed_messages_are_reported_when_the_connection_drops(self) -> None:
        self.start_client()
        self.type_and_receive("CHAT bob oi", "TODOS alguém aí?")
        self.push("OK CHAT bob")
        self.hang_up()
        self.screen.wait_for(r"eu → bob: oi$")
        line = self.screen.wait_for(r"talvez não tenha chegado")
        self.assertRegex(line, r"talvez não tenha chegado: eu: alguém aí\?$")
        self.screen.wait_for(r"^O servidor encerrou a conexão\.$")
        self.assertEqual(self.exit_status(), 1, "--no-reconnect: the end")

    def test_session_taken_over_elsewhere_never_reconnects(self) -> None:
        self.start_client(reconnect=True)
        self.log_in()
        self.push("ERRO SESSAO_SUBSTITUIDA Você entrou em outro lugar.")
        self.hang_up()
        self.screen.wait_for(r"não vai reconectar")
        self.assertEqual(self.exit_status(), 1)

    def test_typing_while_disconnected_sends_nothing_and_says_so(self) -> None:
        self.start_client(reconnect=True, address=("127.0.0.1", closed_port()))
        self.log_in()
        self.hang_up()
        self.screen.wait_for(r"^Tentando reconectar")
        self.screen.typed.put("TODOS alguém?")
        self.screen.wait_for(r"^Sem conexão com o servidor; a linha não foi enviada")
        self.screen.typed.put("SAIR")
        self.assertEqual(self.exit_status(), 0, "SAIR while waiting to reconnect ends at once")

    def test_a_session_never_logged_in_does_not_reconnect(self) -> None:
        self.start_client(reconnect=True, address=("127.0.0.1", closed_port()))
        self.hang_up()
        self.screen.wait_for(r"^Para voltar, rode o cliente de novo\.$")
        self.assertEqual(self.exit_status(), 1)

    def test_automatic_login_refused_for_good_is_explained(self) -> None:
        with fast_retries(), socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            second, _ = listener.accept()
            with second, second.makefile("r", encoding="utf-8") as lines:
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n", "held in memory")
                second.sendall("ERRO CREDENCIAIS Usuário ou senha incorretos.\n".encode())
                self.screen.wait_for(r"Erro: Usuário ou senha incorretos\.$")
                self.screen.wait_for(r"^Não foi possível entrar de novo como alice; entre com")
                self.screen.typed.put(None)  # Ctrl-D
                self.assertEqual(lines.readline(), "SAIR\n")
                second.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_automatic_login_refused_for_now_is_tried_again(self) -> None:
        with fast_retries() as delays, socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(TIMEOUT)
            self.start_client(reconnect=True, address=listener.getsockname())
            self.log_in()
            self.hang_up()
            for _ in range(3):  # a server that is full, or one that accepts and closes
                refused, _ = listener.accept()
                with refused, refused.makefile("r", encoding="utf-8") as lines:
                    self.assertEqual(lines.readline(), "ENTRAR alice senha123\n")
                    refused.sendall("ERRO LIMITE O servidor está cheio.\n".encode())
                    self.assertEqual(lines.readline(), "", "the client hangs up to try later")
            accepted, _ = listener.accept()
            with accepted, accepted.makefile("r", encoding="utf-8") as lines:
                self.assertEqual(lines.readline(), "ENTRAR alice senha123\n", "still remembered")
                accepted.sendall(b"OK ENTRAR alice\n")
                self.screen.wait_for(r"De volta ao chat como alice\.$")
                self.assertEqual(lines.readline(), "PING\n")  # marks the end of the history replay
                accepted.sendall(b"OK PING\n")
                self.assertEqual(delays.started, 1, "the waits kept growing until it was back")
                self.screen.typed.put("SAIR")
                self.assertEqual(lines.readline(), "SAIR\n")
                accepted.sendall(b"OK SAIR\n")
        self.assertEqual(self.exit_status(), 0)

    def test_leaving_without_the_servers_goodbye_is_reported(self) -> None:
        self.start_client()
        self.log_in()
        self.type_and_receive("TODOS importante")
        self.screen.typed.put(None)  # Ctrl-D: SAIR goes out
        self.assertEqual(self.receive(), "SAIR")
        self.hang_up()  # and the server closes without answering either
        self.screen.wait_for(r"talvez não tenha chegado: eu: importante$")
        self.screen.wait_for(r"Sem confirmação do SAIR\.$")
        self.assertEqual(self.exit_status(), 1)


class HostileServerTest(FakeServerTestCase):
    """What a server sends is bounded: one endless line must not grow the client."""

    def flood(self, data: bytes) -> None:
        """Send ``data`` from a thread: the client stops reading it partway."""
        def send() -> None:
            try:
                self.server_end.sendall(data)
            except OSError:
                pass  # the client hung up, as it should
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        self.addCleanup(sender.join, TIMEOUT)

    def test_an_endless_line_ends_the_connection(self) -> None:
        with mock.patch.object(protocol, "MAX_SERVER_LINE", 1024):
            self.start_client()
            self.flood(b"INFO " + b"x" * (64 * 1024))  # no newline, ever
            self.screen.wait_for(r"^O servidor mandou uma linha longa demais; conexão encerrada\.$")
            self.assertEqual(self.exit_status(), 1)

    def test_a_line_over_the_bound_ends_the_connection_too(self) -> None:
        with mock.patch.object(protocol, "MAX_SERVER_LINE", 1024):
            self.start_client()
            self.flood(b"INFO " + b"x" * 2000 + b"\nINFO depois\n")
            self.screen.wait_for(r"^O servidor mandou uma linha longa demais; conexão encerrada\.$")
            self.assertEqual(self.exit_status(), 1)

    def test_the_bound_holds_what_a_server_may_send(self) -> None:
        names = " ".join("\U0001f987" * protocol.MAX_NAME_LENGTH for _ in range(12_000))
        self.assertLess(len(protocol.encode_line(protocol.format_ok("LISTA", names))), protocol.MAX_SERVER_LINE)
        longest_text = "x" * (servidor_max_line() - 1)
        line = protocol.format_history("\U0001f987" * protocol.MAX_NAME_LENGTH, 0, longest_text)
        self.assertLess(len(protocol.encode_line(line)), protocol.MAX_SERVER_LINE)


def servidor_max_line() -> int:
    """The largest --max-line the server accepts."""
    (maximum,) = [maximum for name, _, maximum, _ in server._LIMIT_OPTIONS if name == "max_line"]
    return int(maximum)


class LockstepTest(FakeServerTestCase):
    """Piped input: each line waits for its answer, and the flood limit paces a script."""

    def test_lines_wait_for_their_answer(self) -> None:
        self.start_client(lockstep=True)
        self.screen.typed.put("TODOS um")
        self.screen.typed.put("TODOS dois")
        self.assertEqual(self.receive(), "TODOS um")
        self.server_end.settimeout(0.2)
        with self.assertRaises(TimeoutError, msg="the next line waits for this one's answer"):
            self.server_end.recv(100, socket.MSG_PEEK)
        self.server_end.settimeout(TIMEOUT)
        self.push("OK TODOS")
        self.assertEqual(self.receive(), "TODOS dois")

    def test_a_line_refused_by_the_flood_limit_is_sent_again(self) -> None:
        with mock.patch.object(cliente, "LIMIT_RETRY_DELAY", 0.01):
            self.start_client(lockstep=True)
            self.screen.typed.put("TODOS um")
            self.assertEqual(self.receive(), "TODOS um")
            self.push("ERRO LIMITE Devagar.")
            self.assertEqual(self.receive(), "TODOS um", "sent again")
            self.push("OK TODOS")
            self.screen.wait_for(r"eu: um$")


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class fast_retries:
    """Reconnection waits of 10 ms instead of 1, 2, 4 ... s; counts how often they restart."""

    def __init__(self) -> None:
        self.started = 0
        self._patch = mock.patch.object(cliente, "retry_delays", self._delays)

    def _delays(self) -> Iterator[float]:
        self.started += 1
        while True:
            yield 0.01

    def __enter__(self) -> fast_retries:
        self._patch.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._patch.stop()


if __name__ == "__main__":
    unittest.main()

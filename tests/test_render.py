"""From server lines to what the person reads (:mod:`batchat.client.render`): pure, table-driven,
one ``subTest`` per row, every time through the fixed clock of :mod:`tests.clocks`."""

from __future__ import annotations

import datetime
import unittest

import protocol
from batchat import formatting
from batchat.client import events, render
from batchat.client.render import Shown, Style
from batchat.client.screen import display_width, wrap
from tests.clocks import CLOCK, NOW, TEXT_UTF8, ZONE, fixed_clock, is_forbidden, local_seconds, stamp


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
        ("OK SAIR", None, "Até logo!"),  # never logged in: nobody left the chat
        ("OK AJUDA", None, None),
        ("OK FUTURO x y", None, "OK FUTURO x y"),
        ("OK FUTURO", None, "OK FUTURO"),
        ("ERRO ARGUMENTOS Uso: TODOS <mensagem>", None, "Erro: Uso: TODOS <mensagem>"),
        ("ERRO CREDENCIAIS Senha incorreta.", None, "Erro: Senha incorreta."),
        ("INFO Bem-vindo ao BatChat!", None, "Bem-vindo ao BatChat!"),
        ("LIMITES 5 20 2048", None, None),  # for programs, not for the person
        ("BATCHAT 1 Bem-vindo de novo", None, "Bem-vindo de novo"),  # a greeting: its text
        ("BLA bla", None, "BLA bla"),
        # Control characters from the network are shown, never interpreted.
        ("MSG alice \x1b[2J", None, "alice → eu: \\x1b[2J"),
        ("TODOS bob a\u2028b", None, "bob: a\\u2028b"),
        ("INFO a\x07b", None, "a\\x07b"),
        ("ENTROU \x1b[31mmallory", None, "-- \\x1b[31mmallory entrou no chat."),
        # Messages from before, with their own time (NOW is 2026-11-21 15:00 local).
        (f"PENDENTE alice {stamp(2026, 11, 20, 21, 14)} oi", "bob",
         "[enquanto você estava fora] [ontem 21:14] alice → eu: oi"),
        (f"PENDENTE alice {stamp(2026, 11, 21, 9, 2)} bom dia, bob", "bob",
         "[enquanto você estava fora] [09:02] alice → eu: bom dia, bob"),
        (f"PENDENTE alice {stamp(2026, 11, 2, 8, 0)} oi", "bob", "[enquanto você estava fora] [02/11 08:00] alice → eu: oi"),
        (f"PENDENTE alice {stamp(2025, 12, 31, 23, 59)} oi", "bob",
         "[enquanto você estava fora] [31/12/2025 23:59] alice → eu: oi"),
        ("PENDENTE alice ontem oi", "bob", "[enquanto você estava fora] [ontem] alice → eu: oi"),
        (f"PENDENTE alice {stamp(2026, 11, 21, 9, 2)} \x1b[2J", "bob",
         "[enquanto você estava fora] [09:02] alice → eu: \\x1b[2J"),
        (f"HISTORICO carol {stamp(2026, 11, 21, 14, 58)} bom dia", "bob", "[histórico] [14:58] carol: bom dia"),
        (f"HISTORICO Bob {stamp(2026, 11, 21, 14, 58)} oi", "bob", "[histórico] [14:58] eu: oi"),  # mine, as sent
        ("INFO 2 mensagens privadas esperavam por você.", "bob", "2 mensagens privadas esperavam por você."),
        ("OK CHAT bob GUARDADA", "alice", "bob está offline: a mensagem foi guardada e será entregue quando entrar."),
        # LISTA TODOS.
        ("USUARIO alice ONLINE", "bob", "  alice: online agora"),
        (f"USUARIO bob OFFLINE {stamp(2026, 11, 21, 12, 30)}", "alice", "  bob: offline, visto por último hoje 12:30"),
        (f"USUARIO bob OFFLINE {stamp(2026, 11, 20, 12, 30)}", "alice", "  bob: offline, visto por último ontem 12:30"),
        ("USUARIO carol OFFLINE", "alice", "  carol: offline, nunca entrou"),
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
                rendered = render.render(line, own_name, CLOCK)
                self.assertEqual(rendered, expected)
                if rendered is not None:
                    self.assertFalse(any(map(is_forbidden, rendered)), rendered)

    def test_styles(self) -> None:
        for line, styles in self.STYLES:
            with self.subTest(line=line):
                shown = render.render_parsed(render.parse_visible(line), "alice", CLOCK)
                assert shown is not None
                self.assertEqual([style for style, _ in shown.parts], styles)

    def test_help_lines_render_as_their_text(self) -> None:
        for line, help in zip(formatting.help_lines(teacher=True), protocol.COMMAND_HELP.values()):
            with self.subTest(line=line):
                self.assertEqual(render.render(line, None), help.line())


class ShownTest(unittest.TestCase):
    SHOWN = Shown(((Style.SENDER, "bob:"), (Style.PLAIN, " oi "), (Style.MENTION, "alice")))

    def test_plain_has_no_escape_codes(self) -> None:
        self.assertEqual(self.SHOWN.plain(), "bob: oi alice")

    def test_painted_wraps_each_styled_part(self) -> None:
        self.assertEqual(self.SHOWN.painted(), "\x1b[1mbob:\x1b[0m oi \x1b[1;33malice\x1b[0m")

    def test_timed_starts_with_the_time(self) -> None:
        clock = fixed_clock(2026, 11, 21, 9, 5)
        shown = render.timed(Shown(self.SHOWN.parts, render.When.NOW), clock)
        self.assertEqual(shown.plain(), "[09:05] bob: oi alice")
        self.assertEqual(render.timed(shown, clock), shown, "timed once: it carries its time now")


def parsed(line: str) -> Shown:
    """A server line as alice reads it (never nothing)."""
    shown = render.render_parsed(render.parse_visible(line), "alice", CLOCK)
    assert shown is not None
    return shown


class TimeRuleTest(unittest.TestCase):
    """Issue 19 item 17: one rule for which lines show a time, applied by ``render.timed``
    alone: what happened shows when ([15:00]); what was written before, when it was
    written; the client's own answers and the rows that go on from a line, none."""

    CASES = [
        ("a public message", parsed("TODOS bob oi"), "[15:00] bob: oi"),
        ("a private message", parsed("MSG bob oi"), "[15:00] bob → eu: oi"),
        ("someone came in", parsed("ENTROU bob"), "[15:00] -- bob entrou no chat."),
        ("several came in", render.render_presence(["a", "b", "c", "d"], joined=True),
         "[15:00] -- a, b, c e mais 1 entraram no chat."),
        ("an answer from the server", parsed("OK ENTRAR alice"), "[15:00] Você entrou no chat como alice."),
        ("an error from the server", parsed("ERRO LIMITE Devagar."), "[15:00] Erro: Devagar."),
        ("a notice from the server", parsed("INFO aviso"), "[15:00] aviso"),
        ("my own message, confirmed", render.render_echo(protocol.Broadcast("oi")), "[15:00] eu: oi"),
        ("the connection dropped", events.say("O servidor encerrou a conexão.").shown,
         "[15:00] O servidor encerrou a conexão."),
        ("the connection is back", events.say("Conexão com x restabelecida.").shown,
         "[15:00] Conexão com x restabelecida."),
        ("history: its own time", parsed(f"HISTORICO carol {stamp(2026, 11, 20, 9, 2)} oi"),
         "[histórico] [ontem 09:02] carol: oi"),
        ("kept: its own time", parsed(f"PENDENTE bob {stamp(2026, 11, 21, 9, 2)} oi"),
         "[enquanto você estava fora] [09:02] bob → eu: oi"),
        ("a row of a list", parsed("USUARIO bob ONLINE -"), "  bob: online agora"),
        ("an answer of the client's own", Shown.of("Comando desconhecido: /x."), "Comando desconhecido: /x."),
        ("a notice answering what was typed", events.say("Fim da conversa.", when=render.When.NONE).shown,
         "Fim da conversa."),
    ]

    def test_one_rule(self) -> None:
        for what, shown, expected in self.CASES:
            with self.subTest(what):
                self.assertEqual(render.timed(shown, CLOCK).plain(), expected)
                self.assertEqual(render.timed(render.timed(shown, CLOCK), CLOCK).plain(), expected, "once")


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
                self.assertEqual(render.describe_moment(local_seconds(*moment, zone=zone), clock), expected)

    def test_today_is_named_when_asked(self) -> None:
        self.assertEqual(render.describe_moment(local_seconds(2026, 11, 21, 9, 2), CLOCK, "hoje"), "hoje 09:02")

    def test_a_moment_the_platform_cannot_show_is_shown_as_sent(self) -> None:
        line = "USUARIO bob OFFLINE 9999-12-31T23:59:59Z"
        far = render.Clock(now=lambda: NOW, zone=datetime.timezone(datetime.timedelta(hours=14)))
        self.assertEqual(render.render(line, "alice", far), "  bob: offline, visto por último 9999-12-31T23:59:59Z")


class EchoTest(unittest.TestCase):
    def test_own_messages(self) -> None:
        private = protocol.PrivateMessage("Bob", "oi")
        self.assertEqual(render.render_echo(private, "bob").plain(), "eu → bob: oi")
        self.assertEqual(render.render_echo(private).plain(), "eu → Bob: oi")
        self.assertEqual(render.render_echo(protocol.Broadcast("oi a todos")).plain(), "eu: oi a todos")
        self.assertEqual(render.render_echo(private, "bob GUARDADA").plain(),
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
                parts = render.mention_parts(text, own_name)
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
                visible = render.make_visible(text)
                self.assertEqual(visible, expected)
                self.assertFalse(any(map(is_forbidden, visible)), visible)


# The client's own help: what a student may use (a teacher's commands come in the server's AJUDA).
STUDENT_COMMANDS = [help for help in protocol.COMMAND_HELP.values() if help.access is not protocol.Access.TEACHER]
# The rooms' commands are explained in the rule's two lines on rooms instead (/sala is the client's own).
TABLE_COMMANDS = [help for word, help in protocol.COMMAND_HELP.items()
                  if help in STUDENT_COMMANDS and word not in render.ROOM_WORDS]


class HelpTextTest(unittest.TestCase):
    def test_help_fits_78_columns_with_an_example_per_command_as_typed_here(self) -> None:
        lines = render.help_text(78)
        self.assertTrue(all(display_width(line) <= 78 for line in lines), lines)
        for help in TABLE_COMMANDS:
            with self.subTest(command=help.syntax):
                syntax, example = render.slash_form(help.syntax), render.slash_form(help.example)
                if help.kind in (protocol.Register, protocol.Login, protocol.DeleteAccount):  # no password on the line
                    syntax, example = syntax.removesuffix(" <senha>"), example.removesuffix(" s3nh4x")
                if help.kind is protocol.ChangePassword:
                    syntax, example = "/senha", "/senha"
                (row,) = [line for line in lines if line.startswith(f"{syntax} ")]
                self.assertTrue(row.startswith("/"), row)
                self.assertTrue(row.endswith(example), row)

    def test_help_reads_well_at_30_40_and_80_columns(self) -> None:
        """Issue 19 item 18: as the screen shows it, every row fits; a command's meaning and
        its example are never on one row without a gap, nor cut; sentences break at spaces."""
        for columns in (30, 40, 80):
            with self.subTest(columns=columns):
                rows = [row.plain() for line in render.help_text(columns)
                        for row in wrap(Shown.of(line), columns)]
                self.assertTrue(all(display_width(row) <= columns for row in rows), rows)
                self.assertEqual(rows, render.help_text(columns), "the screen cuts nothing again")
                for help in TABLE_COMMANDS:
                    (row,) = [row for row in rows if help.meaning in row]
                    after = row[row.index(help.meaning) + len(help.meaning):]
                    self.assertTrue(after == "" or (after.startswith("  ") and after.lstrip()[:1] == "/"), row)
                    typed = 1 if help.kind in (protocol.ChangePassword, protocol.DeleteAccount) else 2  # no password
                    example = render.slash_form(help.example).split(" ")[:typed]
                    self.assertTrue(any(" ".join(example) in row for row in rows), example)
                words = " ".join(render.HELP_RULE + render.HELP_NOTES).split()
                self.assertTrue(set(words) <= {word for row in rows for word in row.split()},
                                "no word of a sentence is cut")

    def test_slash_form(self) -> None:
        for wire, typed in [("CHAT bob oi!", "/chat bob oi!"), ("LISTA [TODOS]", "/lista [todos]"),
                            ("LISTA TODOS", "/lista todos"), ("SAIR", "/sair"),
                            ("NOVO <usuário> <senha>", "/novo <usuário> <senha>")]:
            with self.subTest(wire=wire):
                self.assertEqual(render.slash_form(wire), typed)

    def test_help_states_the_rule_for_text_and_commands(self) -> None:
        text = "\n".join(render.help_text())
        for part in [
            "Texto sem / vai para todos", "Comandos começam com /", "/chat bob oi", "/msg",
            "/lista todos", "MAIÚSCULAS", "(lista, sair, ajuda, ?)", "/conversa bob", "/conversa sozinho",
            "/sala #grupo1: o texto vai para a sala (ana #grupo1>); /sala volta a #geral.",
            "/salas: as salas e as não lidas",
        ]:
            with self.subTest(part=part):
                self.assertIn(part, text)
        self.assertNotIn("tanto faz", text, "lower case no longer makes any line a command")


class PromptTest(unittest.TestCase):
    def test_prompt_shows_who_and_the_conversation(self) -> None:
        for own_name, partner, expected in [
            (None, None, "> "), (None, "bob", "> "), ("alice", None, "alice> "),
            ("alice", "bob", "alice → bob> "),
        ]:
            with self.subTest(own_name=own_name, partner=partner):
                self.assertEqual(render.prompt_text(own_name, partner), expected)


if __name__ == "__main__":
    unittest.main()

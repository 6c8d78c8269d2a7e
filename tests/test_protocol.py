"""Protocol tests: the sans-I/O module, with no sockets.

Every test is table-driven: the data sits at the top of each class and every
row runs in its own ``subTest``, so a failure names the exact input.
"""

from __future__ import annotations

import ssl
import unicodedata
import unittest
from pathlib import Path

import protocol
from batchat import formatting, parsing, prices, tls_bytes
from batchat.client import server_lines
from batchat.client.server_lines import ServerLine
from batchat import framing
from protocol import (
    Broadcast,
    ErrorCode,
    Help,
    ListUsers,
    Login,
    PrivateMessage,
    ProtocolError,
    Quit,
    Register,
)
from tests.support import OTHER_CA, TLS_CERT, TLS_KEY

NAME_20 = "a" * 20
NAME_21 = "a" * 21
JOAO_NFC = "jo\u00e3o"  # "joão" with the precomposed ã
JOAO_NFD = "joa\u0303o"  # "joão" as a + combining tilde
TEXT_UTF8 = "ação 🦇"

# Characters message text must refuse: Cc (NUL, ESC, CR, TAB, DEL, NEL), Zl, Zp.
FORBIDDEN_IN_TEXT = (
    "\x00", "\x1b[2J", "\r", "\t", "\x7f", "\x85", "\u2028", "\u2029",
    "\u202e", "\u202a", "\u2066", "\u2069",  # bidi overrides and isolates
)


def is_forbidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


class ParseErrorMixin:
    """``assertParseError``: the line is refused with exactly ``code``."""

    def assertParseError(self, line: str, code: ErrorCode) -> ProtocolError:
        with self.assertRaises(ProtocolError) as caught:
            parsing.parse_command(line)
        self.assertIs(caught.exception.code, code)
        return caught.exception


# The commands of issue 20, each with its word (the accounts' two, then the teacher's).
TEACHING_COMMANDS = [
    (protocol.ChangePassword("senha123", "nova-senha"), "SENHA"), (protocol.DeleteAccount("senha123"), "EXCLUIR"),
    (protocol.ListRooms(), "SALAS"), (protocol.RoomMessage("#g1", "oi"), "FALA"),
    (protocol.RoomCommand("ENTRAR", "#g1"), "SALA"),
    (protocol.Announce("oi"), "AVISO"), (protocol.Mute("bob", 60), "SILENCIAR"), (protocol.Kick("bob"), "EXPULSAR"),
    (protocol.Ban("bob", None), "BANIR"), (protocol.Release("bob"), "LIBERAR"),
    (protocol.PrivateChats(False), "PRIVADO"), (protocol.ResetPassword("bob"), "REDEFINIR"),
    (protocol.ModerationLog(), "REGISTRO"), (protocol.SetRole("bob", True), "CARGO"),
]


# --- parse_command: valid lines ------------------------------------------------


class ParseCommandValidTest(unittest.TestCase):
    BLANK = ["", " ", "     "]

    VALID = [
        # NOVO / ENTRAR: case of the word, runs of spaces, accents, NFD -> NFC.
        ("NOVO alice segredo1", Register("alice", "segredo1")),
        ("novo alice segredo1", Register("alice", "segredo1")),
        ("NoVo Alice segredo1", Register("Alice", "segredo1")),
        ("   NOVO   alice    segredo1   ", Register("alice", "segredo1")),
        ("NOVO joão sênha!@#", Register(JOAO_NFC, "sênha!@#")),
        (f"NOVO {JOAO_NFD} segredo1", Register(JOAO_NFC, "segredo1")),
        ("ENTRAR alice segredo1", Login("alice", "segredo1")),
        ("entrar alice segredo1", Login("alice", "segredo1")),
        ("EnTrAr  alice  segredo1 ", Login("alice", "segredo1")),
        (f"ENTRAR {JOAO_NFD} segredo1", Login(JOAO_NFC, "segredo1")),
        # Name and password boundaries and allowed characters.
        (f"NOVO {NAME_20} segredo1", Register(NAME_20, "segredo1")),
        ("NOVO a 123456", Register("a", "123456")),
        ("NOVO a_b.c-d42 segredo1", Register("a_b.c-d42", "segredo1")),
        ("NOVO bob " + "x" * 128, Register("bob", "x" * 128)),
        ("NOVO " + "e\u0301" * 20 + " segredo1", Register("\u00e9" * 20, "segredo1")),
        # Commands without arguments; trailing spaces tolerated.
        ("LISTA", ListUsers()),
        ("lista", ListUsers()),
        ("  LiStA   ", ListUsers()),
        ("LISTA TODOS", ListUsers(everyone=True)),
        ("lista   todos  ", ListUsers(everyone=True)),
        ("Lista Todos", ListUsers(everyone=True)),
        ("SAIR", Quit()),
        ("sair  ", Quit()),
        ("AJUDA", Help()),
        ("ping", protocol.Ping()),
        ("Ajuda", Help()),
        # CHAT: the text is everything after the ONE space that follows the recipient:
        # leading, inner and trailing spaces kept (issue 19 item 10: indented code).
        ("CHAT bob oi", PrivateMessage("bob", "oi")),
        ("chat bob oi", PrivateMessage("bob", "oi")),
        ("CHAT   bob    oi  tudo   bem  ", PrivateMessage("bob", "   oi  tudo   bem  ")),
        ("CHAT bob     return x", PrivateMessage("bob", "    return x")),
        ("CHAT bob  x", PrivateMessage("bob", " x")),
        (f"CHAT bob {TEXT_UTF8}", PrivateMessage("bob", TEXT_UTF8)),
        (f"CHAT {JOAO_NFD} oi", PrivateMessage(JOAO_NFC, "oi")),
        ("CHAT bob a\u00a0b", PrivateMessage("bob", "a\u00a0b")),  # NBSP is not a control
        # TODOS: same rule; the text itself is not normalised.
        ("TODOS olá pessoal", Broadcast("olá pessoal")),
        ("todos    a  b  ", Broadcast("   a  b  ")),
        ("TODOS     return x", Broadcast("    return x")),  # the line: its shape kept
        ("TODOS         if x:", Broadcast("        if x:")),
        ("  TODOS  x", Broadcast(" x")),
        (f"TODOS {TEXT_UTF8}", Broadcast(TEXT_UTF8)),
        (f"TODOS {JOAO_NFD}", Broadcast(JOAO_NFD)),
        # Issue 20: the accounts' commands and the teacher's.
        ("SENHA velha123 nova-456", protocol.ChangePassword("velha123", "nova-456")),
        ("senha  velha123  nova-456 ", protocol.ChangePassword("velha123", "nova-456")),
        ("EXCLUIR velha123", protocol.DeleteAccount("velha123")),
        ("AVISO prova às 10h", protocol.Announce("prova às 10h")),
        ("aviso  recuo", protocol.Announce(" recuo")),
        ("AVISO -", protocol.Announce(None)),
        ("AVISO - sim", protocol.Announce("- sim")),
        ("SILENCIAR bob 10m", protocol.Mute("bob", 600)),
        ("silenciar bob 30S spam demais ", protocol.Mute("bob", 30, "spam demais")),
        ("SILENCIAR bob 365d", protocol.Mute("bob", 365 * 86400)),
        (f"SILENCIAR {JOAO_NFD} 1s", protocol.Mute(JOAO_NFC, 1)),
        ("EXPULSAR bob", protocol.Kick("bob")),
        ("EXPULSAR bob bagunça na aula", protocol.Kick("bob", "bagunça na aula")),
        ("BANIR bob 2h", protocol.Ban("bob", 7200)),
        ("BANIR bob SEMPRE", protocol.Ban("bob", None)),
        ("banir bob sempre cola na prova", protocol.Ban("bob", None, "cola na prova")),
        ("BANIR bob 1D", protocol.Ban("bob", 86400)),
        ("LIBERAR bob", protocol.Release("bob")),
        ("PRIVADO NAO", protocol.PrivateChats(False)),
        ("privado sim", protocol.PrivateChats(True)),
        ("REDEFINIR bob", protocol.ResetPassword("bob")),
        ("REGISTRO", protocol.ModerationLog(20)),
        ("REGISTRO 500", protocol.ModerationLog(500)),
        ("registro 1 ", protocol.ModerationLog(1)),
        ("CARGO bia PROFESSOR", protocol.SetRole("bia", True)),
        ("cargo bia aluno", protocol.SetRole("bia", False)),
    ]

    def test_blank_line_is_ignored(self) -> None:
        for line in self.BLANK:
            with self.subTest(line=line):
                self.assertIsNone(parsing.parse_command(line))

    def test_valid_lines(self) -> None:
        for line, expected in self.VALID:
            with self.subTest(line=line):
                result = parsing.parse_command(line)
                self.assertIs(type(result), type(expected))
                self.assertEqual(result, expected)


# --- parse_command: every error parsing can raise -------------------------------


class ParseCommandErrorTest(ParseErrorMixin, unittest.TestCase):
    UNKNOWN_COMMAND = [
        "FOO",
        "foo bar",
        "LISTAR",
        "LIST",
        "lısta",  # dotless ı: "lısta".upper() == "LISTA"
        "ſair",  # long s: "ſair".upper() == "SAIR"
        "ＬＩＳＴＡ",  # fullwidth letters
        "LISTA\tx",  # only spaces separate words
        "TODOS\toi",
        "LISTA\r",  # a stray \r stays in the word
        "\ufeffLISTA",  # a byte-order mark glued to the word
        # Lines that are not blank but whose word is empty of meaning.
        "\t",
        "\x00",
        "\r",
        "\u00a0",
        " \u3000 ",
    ]

    # (line, usage text the error must carry)
    ARGUMENTS = [
        ("NOVO", "NOVO <usuário> <senha>"),
        ("NOVO alice", "NOVO <usuário> <senha>"),
        ("NOVO   alice   ", "NOVO <usuário> <senha>"),
        ("NOVO alice segredo1 extra", "NOVO <usuário> <senha>"),
        ("NOVO alice\tsegredo1", "NOVO <usuário> <senha>"),
        ("ENTRAR", "ENTRAR <usuário> <senha>"),
        ("entrar alice", "ENTRAR <usuário> <senha>"),
        ("ENTRAR alice segredo1 extra", "ENTRAR <usuário> <senha>"),
        ("LISTA x", "LISTA [TODOS]"),
        ("LISTA TODOS agora", "LISTA [TODOS]"),
        ("LISTA TODOS TODOS", "LISTA [TODOS]"),
        ("LISTA tödos", "LISTA [TODOS]"),
        ("SAIR agora", "SAIR"),
        ("AJUDA CHAT", "AJUDA"),
        ("PING 123", "PING"),
        ("CHAT", "CHAT <usuário> <mensagem>"),
        ("CHAT    ", "CHAT <usuário> <mensagem>"),
        ("CHAT bob", "CHAT <usuário> <mensagem>"),
        ("CHAT bob     ", "CHAT <usuário> <mensagem>"),
        ("TODOS", "TODOS <mensagem>"),
        ("TODOS      ", "TODOS <mensagem>"),
        ("TODOS  ", "TODOS <mensagem>"),  # a message of nothing but spaces is missing
        ("CHAT bob  ", "CHAT <usuário> <mensagem>"),
        ("SENHA", "SENHA <atual> <nova>"),
        ("SENHA velha123", "SENHA <atual> <nova>"),
        ("SENHA velha123 nova-456 extra", "SENHA <atual> <nova>"),
        ("EXCLUIR", "EXCLUIR <senha>"),
        ("EXCLUIR velha123 extra", "EXCLUIR <senha>"),
        ("AVISO", "AVISO <mensagem>|-"),
        ("AVISO   ", "AVISO <mensagem>|-"),
        ("SILENCIAR", "SILENCIAR <usuário> <duração> [motivo]"),
        ("SILENCIAR bob", "SILENCIAR <usuário> <duração> [motivo]"),
        ("EXPULSAR", "EXPULSAR <usuário> [motivo]"),
        ("BANIR bob", "BANIR <usuário> <duração>|SEMPRE [motivo]"),
        ("LIBERAR", "LIBERAR <usuário>"),
        ("LIBERAR bob ana", "LIBERAR <usuário>"),
        ("PRIVADO", "PRIVADO NAO|SIM"),
        ("PRIVADO TALVEZ", "PRIVADO NAO|SIM"),
        ("PRIVADO NÃO", "PRIVADO NAO|SIM"),
        ("PRIVADO NAO SIM", "PRIVADO NAO|SIM"),
        ("REDEFINIR", "REDEFINIR <usuário>"),
        ("REGISTRO 0", "REGISTRO [n]"),
        ("REGISTRO 501", "REGISTRO [n]"),
        ("REGISTRO -1", "REGISTRO [n]"),
        ("REGISTRO ١", "REGISTRO [n]"),  # an Arabic-Indic digit is no count
        ("REGISTRO 5 6", "REGISTRO [n]"),
        ("CARGO bia", "CARGO <usuário> PROFESSOR|ALUNO"),
        ("CARGO bia REI", "CARGO <usuário> PROFESSOR|ALUNO"),
        ("CARGO bia ALUNO x", "CARGO <usuário> PROFESSOR|ALUNO"),
    ]
    # Durations that are no duration (DURACAO_INVALIDA), for each command that takes one.
    BAD_DURATIONS = ["0s", "0d", "366d", "8761h", "525601m", "31536001s", "10", "m", "10x", "1.5h", "-1h",
                     "１h", "10 m", "SEMPRE-", "9999999999d", "٣m"]
    # Control characters in message text, for both message commands.
    CONTROL_LINES = [
        line
        for bad in FORBIDDEN_IN_TEXT
        for line in (f"CHAT bob a{bad}b", f"TODOS a{bad}b", f"TODOS oi{bad}")
    ]
    CONTROL_TEXT = "A mensagem contém caracteres de controle não permitidos."

    INVALID_NAME = [
        f"NOVO {NAME_21} segredo1",
        "NOVO " + "e\u0301" * 21 + " segredo1",  # 21 characters once in NFC
        "NOVO bob\n segredo1",
        "NOVO b@d segredo1",
        "NOVO bob! segredo1",
        "ENTRAR bob\x1b segredo1",
        "ENTRAR \u200b segredo1",  # zero-width space: looks empty
        "ENTRAR \u0303 segredo1",  # a lone combining mark
        "CHAT b@d oi",
        f"CHAT {NAME_21} oi",
        "CHAT bob\x00 oi",
        "NOVO b@d 123",  # the name is checked before the password
        "CHAT b@d a\x1bb",  # the recipient is checked before the text
    ]

    INVALID_PASSWORD = [
        "NOVO bob 12345",
        "ENTRAR bob 12345",
        "NOVO bob " + "x" * 129,
        "NOVO bob senha\x00x",
        "ENTRAR bob senha\x1b12",
        "NOVO bob senha\u00a0123",  # no-break space is whitespace
        "NOVO bob senha\u200b123",  # zero-width space is not printable
        "NOVO bob senha\u2028123",
    ]

    def test_unknown_command(self) -> None:
        for line in self.UNKNOWN_COMMAND:
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.UNKNOWN_COMMAND)

    def test_bad_durations(self) -> None:
        for duration in self.BAD_DURATIONS:
            for line in (f"SILENCIAR bob {duration}", f"BANIR bob {duration} motivo"):
                with self.subTest(line=line):
                    self.assertParseError(line, ErrorCode.INVALID_DURATION)
        self.assertParseError("SILENCIAR bob SEMPRE", ErrorCode.INVALID_DURATION)  # SEMPRE: BANIR's only
        self.assertParseError("BANIR bob ſempre", ErrorCode.INVALID_DURATION)  # a long s is no S

    def test_bad_names_and_reasons_in_the_teachers_commands(self) -> None:
        for line in ("SILENCIAR b@d 10m", "EXPULSAR b@d", "BANIR b@d SEMPRE", "LIBERAR b@d", "REDEFINIR b@d",
                     "CARGO b@d ALUNO"):
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.INVALID_NAME)
        for line in ("AVISO a\x1bb", "SILENCIAR bob 1m a\x1bb", "EXPULSAR bob \u202e", "BANIR bob 1d \x00"):
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.ARGUMENTS)
        for line in ("SENHA curta nova-456", "SENHA velha123 curta", "EXCLUIR curta"):
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.INVALID_PASSWORD)

    def test_arguments(self) -> None:
        for line, usage in self.ARGUMENTS:
            with self.subTest(line=line):
                error = self.assertParseError(line, ErrorCode.ARGUMENTS)
                self.assertEqual(error.text, f"Uso: {usage}")
                self.assertEqual(error.usage, usage.split(" ")[0], "the command it means, as a field")

    def test_control_characters_in_text(self) -> None:
        for line in self.CONTROL_LINES:
            with self.subTest(line=line):
                error = self.assertParseError(line, ErrorCode.ARGUMENTS)
                self.assertEqual(error.text, self.CONTROL_TEXT)

    def test_invalid_name(self) -> None:
        for line in self.INVALID_NAME:
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.INVALID_NAME)

    def test_invalid_password(self) -> None:
        for line in self.INVALID_PASSWORD:
            with self.subTest(line=line):
                self.assertParseError(line, ErrorCode.INVALID_PASSWORD)

    def test_error_message_carries_code_and_text(self) -> None:
        error = self.assertParseError("TODOS", ErrorCode.ARGUMENTS)
        self.assertEqual(str(error), "ARGUMENTOS Uso: TODOS <mensagem>")


# --- validate_* directly ----------------------------------------------------------


class ValidateTest(unittest.TestCase):
    # (name, NFC result or None when refused)
    NAMES = [
        ("alice", "alice"),
        ("Alice", "Alice"),
        (NAME_20, NAME_20),
        (JOAO_NFD, JOAO_NFC),
        ("a_b.c-d", "a_b.c-d"),
        (NAME_21, None),
        ("", None),
        ("bob\n", None),
        ("\nbob", None),
        ("bob smith", None),
        ("bob@x", None),
        ("bob\x00", None),
        ("\u200b", None),
        (".", None),  # no letter or digit at all
        ("--", None),
        ("_._", None),
        ("a.", "a."),
        ("_1", "_1"),
    ]
    PASSWORDS_OK = ["123456", "x" * 128, "sênha!@#$%", "🦇🦇🦇🦇🦇🦇"]
    PASSWORDS_BAD = ["", "12345", "x" * 129, "senha 123", "senha\t123", "senha\x7f12"]
    TEXTS_OK = ["a", " ", TEXT_UTF8, "a  b  ", "\\x1b[2J"]

    def test_password_is_normalised_to_nfc(self) -> None:
        decomposed, composed = "senha\u0301", "senh\u00e1"  # both read "senhá"
        with self.assertRaises(ProtocolError):
            protocol.validate_password(decomposed)  # 5 characters once composed
        self.assertEqual(protocol.validate_password("a" + decomposed), "a" + composed)

    def test_validate_name(self) -> None:
        for name, expected in self.NAMES:
            with self.subTest(name=name):
                if expected is None:
                    with self.assertRaises(ProtocolError) as caught:
                        protocol.validate_name(name)
                    self.assertIs(caught.exception.code, ErrorCode.INVALID_NAME)
                else:
                    self.assertEqual(protocol.validate_name(name), expected)

    # Default-ignorable characters render as nothing: alone, or beside a real name.
    INVISIBLE = [
        ("\u3164", "HANGUL FILLER"),
        ("\u115f", "HANGUL CHOSEONG FILLER"),
        ("\u1160", "HANGUL JUNGSEONG FILLER"),
        ("\uffa0", "HALFWIDTH HANGUL FILLER"),
        ("\u200b", "ZERO WIDTH SPACE"),
        ("\u200d", "ZERO WIDTH JOINER"),
        ("\u2060", "WORD JOINER"),
        ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
        ("\u00ad", "SOFT HYPHEN"),
        ("\u034f", "COMBINING GRAPHEME JOINER"),
        ("\ufe0f", "VARIATION SELECTOR-16"),
        ("\U000e0041", "TAG LATIN CAPITAL LETTER A"),
    ]

    def test_invisible_characters_are_refused_in_names(self) -> None:
        for char, description in self.INVISIBLE:
            for name in (char, f"alice{char}", f"{char}alice", f"al{char}ice", char * 3):
                with self.subTest(description=description, name=ascii(name)):
                    with self.assertRaises(ProtocolError) as caught:
                        protocol.validate_name(name)
                    self.assertIs(caught.exception.code, ErrorCode.INVALID_NAME)

    def test_validate_password(self) -> None:
        for password in self.PASSWORDS_OK:
            with self.subTest(password=password):
                self.assertEqual(protocol.validate_password(password), password)
        for password in self.PASSWORDS_BAD:
            with self.subTest(password=password):
                with self.assertRaises(ProtocolError) as caught:
                    protocol.validate_password(password)
                self.assertIs(caught.exception.code, ErrorCode.INVALID_PASSWORD)

    def test_validate_text(self) -> None:
        for text in self.TEXTS_OK:
            with self.subTest(text=text):
                self.assertEqual(protocol.validate_text(text), text)
        for bad in FORBIDDEN_IN_TEXT:
            with self.subTest(text=bad):
                with self.assertRaises(ProtocolError) as caught:
                    protocol.validate_text(f"oi{bad}")
                self.assertIs(caught.exception.code, ErrorCode.ARGUMENTS)


# --- decode_line / encode_line ----------------------------------------------------


class DecodeLineTest(unittest.TestCase):
    VALID = [
        (b"", ""),
        (b"LISTA", "LISTA"),
        (b"a\xc3\xa7\xc3\xa3o \xf0\x9f\xa6\x87", TEXT_UTF8),
        (b"joa\xcc\x83o", JOAO_NFD),  # decoding does not normalise
        (b"a\x00b", "a\x00b"),  # valid UTF-8; refusing it is parse_command's job
    ]
    INVALID = [
        b"\xff",
        b"abc\xff",
        b"\xed\xa0\x80",  # a lone surrogate (U+D800) encoded
        b"\xc0\xaf",  # overlong "/"
        b"\xc3",  # truncated two-byte sequence
        b"\xf0\x9f\xa6",  # truncated four-byte sequence
    ]

    def test_valid_utf8(self) -> None:
        for raw, expected in self.VALID:
            with self.subTest(raw=raw):
                self.assertEqual(protocol.decode_line(raw), expected)

    def test_invalid_utf8(self) -> None:
        for raw in self.INVALID:
            with self.subTest(raw=raw):
                with self.assertRaises(ProtocolError) as caught:
                    protocol.decode_line(raw)
                self.assertIs(caught.exception.code, ErrorCode.INVALID_UTF8)


# --- LineFramer -------------------------------------------------------------------


class LineFramerTest(unittest.TestCase):
    # (chunks fed in order, lines expected in total, bytes pending at the end)
    STREAMS = [
        ([b"LISTA\n"], [b"LISTA"], 0),
        ([b"a\nb\nc\n"], [b"a", b"b", b"c"], 0),
        ([b"a\nb\r\nc"], [b"a", b"b"], 1),
        ([b"LISTA\r\n"], [b"LISTA"], 0),
        ([b"LIS", b"TA\r", b"\n"], [b"LISTA"], 0),  # \r and \n in different chunks
        ([b"a\rb\n"], [b"a\rb"], 0),  # a lone \r in the middle is kept
        ([b"a\r\r\n"], [b"a\r"], 0),  # only the \r right before \n is dropped
        ([b"\r"], [], 1),
        ([b"\n\r\n\n"], [b"", b"", b""], 0),
        ([b"", b"x", b""], [], 1),
        ([b"CHAT bob oi", b" tudo\nTODOS", b" oi\n"], [b"CHAT bob oi tudo", b"TODOS oi"], 0),
    ]
    LINE = f"CHAT bob {TEXT_UTF8}".encode()

    def feed_all(self, framer: framing.LineFramer, chunks: list[bytes]) -> list[bytes]:
        return [line for chunk in chunks for line in framer.feed(chunk)]

    def test_memory_stays_bounded_and_the_verdict_ignores_chunking(self) -> None:
        for chunk in (1, 7, 64, 200, 5000):
            with self.subTest(chunk=chunk):
                framer = framing.LineFramer(max_line=64)
                data = b"x" * 256  # exactly 4 x max_line: too long, but not yet a flood
                for start in range(0, len(data), chunk):
                    self.assertEqual(framer.feed(data[start : start + chunk]), [])
                    self.assertLessEqual(framer.pending, 64)
                self.assertEqual(framer.feed(b"\nPING\n"), [framing.LINE_TOO_LONG, b"PING"])
                framer = framing.LineFramer(max_line=64)
                with self.assertRaises(framing.FramingError):
                    for start in range(0, 257, chunk):
                        framer.feed((b"x" * 257 + b"\n")[start : start + chunk])

    def test_streams(self) -> None:
        for chunks, expected, pending in self.STREAMS:
            with self.subTest(chunks=chunks):
                framer = framing.LineFramer()
                self.assertEqual(self.feed_all(framer, chunks), expected)
                self.assertEqual(framer.pending, pending)

    def test_one_byte_at_a_time(self) -> None:
        framer = framing.LineFramer()
        data = self.LINE + b"\r\n"
        for index in range(len(data) - 1):
            with self.subTest(index=index):
                self.assertEqual(framer.feed(data[index : index + 1]), [])
                self.assertEqual(framer.pending, index + 1)
        self.assertEqual(framer.feed(b"\n"), [self.LINE])
        self.assertEqual(framer.pending, 0)

    def test_multibyte_character_split_at_every_point(self) -> None:
        data = self.LINE + b"\n"
        for cut in range(1, len(data)):
            with self.subTest(cut=cut):
                framer = framing.LineFramer()
                self.assertEqual(framer.feed(data[:cut]), [])
                (raw,) = framer.feed(data[cut:])
                self.assertEqual(protocol.decode_line(raw), f"CHAT bob {TEXT_UTF8}")

    def test_lines_are_always_bytes(self) -> None:
        """feed() returns ``list[bytes]``, also for lines that ended with ``\\r\\n``."""
        framer = framing.LineFramer()
        for line in framer.feed(b"a\r\nb\n"):
            with self.subTest(line=line):
                self.assertIs(type(line), bytes)


# --- Formatting server lines ---------------------------------------------------------


MOMENT = 1795295645.0  # 2026-11-21 21:14:05 UTC
MOMENT_TEXT = "2026-11-21T21:14:05Z"


class TimestampTest(unittest.TestCase):
    def test_utc_iso_8601_round_trip(self) -> None:
        self.assertEqual(protocol.format_timestamp(MOMENT), MOMENT_TEXT)
        self.assertEqual(protocol.format_timestamp(MOMENT + 0.9), MOMENT_TEXT, "to the second")
        self.assertEqual(protocol.parse_timestamp(MOMENT_TEXT), MOMENT)
        self.assertEqual(protocol.format_timestamp(0), "1970-01-01T00:00:00Z")

    def test_anything_else_is_not_a_time(self) -> None:
        for text in ["", "ontem", "2026-11-21", "2026-11-21 21:14:05", "2026-11-21T21:14:05",
                     "2026-13-01T00:00:00Z", "2026-11-21T21:14:05Z extra"]:
            with self.subTest(text=text):
                self.assertIsNone(protocol.parse_timestamp(text))


class FormatTest(unittest.TestCase):
    WIRE_CODES = {
        ErrorCode.UNKNOWN_COMMAND: "COMANDO_DESCONHECIDO",
        ErrorCode.INVALID_ROOM: "SALA_INVALIDA", ErrorCode.UNKNOWN_ROOM: "SALA_INEXISTENTE",
        ErrorCode.ROOM_EXISTS: "SALA_EXISTE", ErrorCode.NOT_IN_ROOM: "FORA_DA_SALA",
        ErrorCode.GENERAL_ROOM: "SALA_GERAL",
        ErrorCode.ARGUMENTS: "ARGUMENTOS",
        ErrorCode.INVALID_NAME: "NOME_INVALIDO",
        ErrorCode.INVALID_PASSWORD: "SENHA_INVALIDA",
        ErrorCode.USER_EXISTS: "USUARIO_EXISTE",
        ErrorCode.CREDENTIALS: "CREDENCIAIS",
        ErrorCode.NOT_AUTHENTICATED: "NAO_AUTENTICADO",
        ErrorCode.ALREADY_AUTHENTICATED: "JA_AUTENTICADO",
        ErrorCode.UNKNOWN_USER: "USUARIO_INEXISTENTE",
        ErrorCode.MAILBOX_FULL: "CAIXA_CHEIA",
        ErrorCode.SESSION_REPLACED: "SESSAO_SUBSTITUIDA",
        ErrorCode.INVALID_UTF8: "UTF8_INVALIDO",
        ErrorCode.UNAVAILABLE: "INDISPONIVEL",
        ErrorCode.LINE_TOO_LONG: "LINHA_LONGA",
        ErrorCode.LIMIT: "LIMITE",
        ErrorCode.SLOW_DOWN: "DEVAGAR",
        ErrorCode.WRONG_PROTOCOL: "PROTOCOLO_INVALIDO",
        ErrorCode.NO_PERMISSION: "SEM_PERMISSAO",
        ErrorCode.MUTED: "SILENCIADO",
        ErrorCode.KICKED: "EXPULSO",
        ErrorCode.BANNED: "BANIDO",
        ErrorCode.PRIVATE_BLOCKED: "PRIVADO_BLOQUEADO",
        ErrorCode.MUST_CHANGE_PASSWORD: "TROCAR_SENHA",
        ErrorCode.PASSWORD_RESET: "SENHA_REDEFINIDA",
        ErrorCode.INVALID_DURATION: "DURACAO_INVALIDA",
        ErrorCode.TARGET_TEACHER: "ALVO_PROFESSOR",
        ErrorCode.LAST_TEACHER: "ULTIMO_PROFESSOR",
    }
    ARGUMENTS_ERROR = ProtocolError(ErrorCode.ARGUMENTS, "Uso: TODOS <mensagem>")

    # (formatted line, expected text, expected parse_server_line kind, fields)
    LINES = [
        (formatting.format_ok("LISTA", "ana bob"), "OK LISTA ana bob", "OK", ("LISTA", "ana bob")),
        (formatting.format_ok("NOVO", JOAO_NFC), f"OK NOVO {JOAO_NFC}", "OK", ("NOVO", JOAO_NFC)),
        (formatting.format_ok("TODOS"), "OK TODOS", "OK", ("TODOS", "")),
        (formatting.format_ok("AJUDA", ""), "OK AJUDA", "OK", ("AJUDA", "")),
        (
            formatting.format_error(ARGUMENTS_ERROR),
            "ERRO ARGUMENTOS Uso: TODOS <mensagem>",
            "ERRO",
            ("ARGUMENTOS", "Uso: TODOS <mensagem>"),
        ),
        (
            formatting.format_private("alice", f"  {TEXT_UTF8}  "),
            f"MSG alice   {TEXT_UTF8}  ",
            "MSG",
            ("alice", f"  {TEXT_UTF8}  "),
        ),
        (formatting.format_public("bob", "oi  e"), "TODOS bob oi  e", "TODOS", ("bob", "oi  e")),
        (formatting.format_joined("alice"), "ENTROU alice", "ENTROU", ("alice",)),
        (formatting.format_left(JOAO_NFC), f"SAIU {JOAO_NFC}", "SAIU", (JOAO_NFC,)),
        (formatting.format_info("Bem-vindo!"), "INFO Bem-vindo!", "INFO", ("Bem-vindo!",)),
        (formatting.format_stored_ok("Bob"), "OK CHAT Bob GUARDADA", "OK", ("CHAT", "Bob GUARDADA")),
        (
            formatting.format_waiting("alice", MOMENT, f" {TEXT_UTF8}"),
            f"PENDENTE alice {MOMENT_TEXT}  {TEXT_UTF8}",
            "PENDENTE",
            ("alice", MOMENT_TEXT, f" {TEXT_UTF8}"),
        ),
        (
            formatting.format_history("carol", MOMENT, "bom dia"),
            f"HISTORICO carol {MOMENT_TEXT} bom dia",
            "HISTORICO",
            ("carol", MOMENT_TEXT, "bom dia"),
        ),
        (formatting.format_account("ana", True, MOMENT), "USUARIO ana ONLINE", "USUARIO", ("ana", "ONLINE", "")),
        (
            formatting.format_account("bob", False, MOMENT),
            f"USUARIO bob OFFLINE {MOMENT_TEXT}",
            "USUARIO",
            ("bob", "OFFLINE", MOMENT_TEXT),
        ),
        (formatting.format_account("cy", False, None), "USUARIO cy OFFLINE", "USUARIO", ("cy", "OFFLINE", "")),
        (formatting.format_waiting_count(1), "INFO 1 mensagem privada esperava por você.", "INFO",
         ("1 mensagem privada esperava por você.",)),
        (formatting.format_waiting_count(7), "INFO 7 mensagens privadas esperavam por você.", "INFO",
         ("7 mensagens privadas esperavam por você.",)),
        (prices.format_limits(5.0, 20, 2048), "LIMITES 5 20 2048 10", "LIMITES", ("5", "20", "2048", "10", "")),
        (prices.format_limits(0.5, 1, 64, 3), "LIMITES 0.5 1 64 3", "LIMITES", ("0.5", "1", "64", "3", "")),
        (prices.format_limits(0, 20, 2048, 0), "LIMITES 0 20 2048 0", "LIMITES", ("0", "20", "2048", "0", "")),
        (formatting.format_error(prices.slow_down_error(4, 0.35)),
         "ERRO DEVAGAR 4 0.351 Mensagens demais por segundo: esta linha custa 4 fichas e não foi executada; "
         "tente de novo em 0,351 s.", "ERRO",
         ("DEVAGAR", "4 0.351 Mensagens demais por segundo: esta linha custa 4 fichas e não foi executada; "
                     "tente de novo em 0,351 s.")),
        (protocol.format_greeting("Bem-vindo ao BatChat!"), "BATCHAT 1 Bem-vindo ao BatChat!", "BATCHAT",
         ("1", "Bem-vindo ao BatChat!")),
    ]
    ENCODED = [
        ("LISTA", b"LISTA\n"),
        ("", b"\n"),
        (TEXT_UTF8, b"a\xc3\xa7\xc3\xa3o \xf0\x9f\xa6\x87\n"),
    ]
    EXPECTED_WORDS = (
        "NOVO", "ENTRAR", "LISTA", "CHAT", "TODOS", "SAIR", "AJUDA", "PING", "SENHA", "EXCLUIR",
        "SALAS", "FALA", "SALA", "AVISO", "SILENCIAR", "EXPULSAR", "BANIR", "LIBERAR", "PRIVADO", "REDEFINIR", "REGISTRO", "CARGO",
    )

    def test_format_functions(self) -> None:
        for formatted, expected, _kind, _fields in self.LINES:
            with self.subTest(expected=expected):
                self.assertEqual(formatted, expected)

    def test_round_trip_through_parse_server_line(self) -> None:
        for formatted, _expected, kind, fields in self.LINES:
            with self.subTest(line=formatted):
                self.assertEqual(server_lines.parse_server_line(formatted), ServerLine(kind, fields))

    def test_the_teachers_lines(self) -> None:
        when = 1_800_000_000.0
        at = protocol.format_timestamp(when)
        for formatted, expected in [
            (formatting.format_announcement("ana", " prova às 10h"), "AVISO ana  prova às 10h"),
            (formatting.format_muted(when, "ana", ""), f"SILENCIADO {at} ana"),
            (formatting.format_muted(when, "ana", "spam demais"), f"SILENCIADO {at} ana spam demais"),
            (formatting.format_released("ana"), "LIBERADO ana"),
            (formatting.format_private_chats(False, "ana"), "PRIVADO NAO ana"),
            (formatting.format_private_chats(True, "ana"), "PRIVADO SIM ana"),
            (formatting.format_role_change("bia", True), "CARGO bia PROFESSOR"),
            (formatting.format_role_change("bia", False), "CARGO bia ALUNO"),
            (formatting.format_act(when, "ana", "BANIR", "bob", "SEMPRE cola"), f"ACAO {at} ana BANIR bob SEMPRE cola"),
            (formatting.format_act(when, "-", "PROFESSOR", "ana", ""), f"ACAO {at} - PROFESSOR ana"),
            (formatting.format_until(None), "SEMPRE"),
            (formatting.format_until(when), at),
        ]:
            with self.subTest(expected=expected):
                self.assertEqual(formatted, expected)

    def test_error_codes_have_fixed_wire_names(self) -> None:
        self.assertEqual(set(self.WIRE_CODES), set(ErrorCode))
        for code, wire in self.WIRE_CODES.items():
            with self.subTest(code=code):
                line = formatting.format_error(ProtocolError(code, "texto"))
                self.assertEqual(line, f"ERRO {wire} texto")

    def test_encode_line(self) -> None:
        for line, expected in self.ENCODED:
            with self.subTest(line=line):
                self.assertEqual(protocol.encode_line(line), expected)

    # (typed word, the hint in ERRO COMANDO_DESCONHECIDO's text)
    CLOSEST = [
        ("ENTRA", "ENTRAR"), ("entar", "ENTRAR"), ("lsta", "LISTA"), ("chta", "CHAT"),
        ("todo", "TODOS"), ("sari", "SAIR"), ("AJUDAR", "AJUDA"), ("pong", "PING"),
        ("quit", "SAIR"), ("Tchau", "SAIR"), ("help", "AJUDA"), ("login", "ENTRAR"),
        ("oi", None), ("xyz", None), ("", None), ("TODOS", None), ("lista", None),
    ]

    def test_unknown_command_names_the_closest_one(self) -> None:
        for word, closest in self.CLOSEST:
            with self.subTest(word=word):
                self.assertEqual(protocol.closest_command(word), closest)
                error = parsing.unknown_command_error(word)
                self.assertIs(error.code, ErrorCode.UNKNOWN_COMMAND)
                if closest:
                    self.assertIn(f"Você quis dizer {closest}?", error.text)
                else:
                    self.assertNotIn("quis dizer", error.text)

    def test_unknown_command_echoes_only_harmless_words(self) -> None:
        self.assertIn("desconhecido: FALAR.", parsing.unknown_command_error("FALAR").text)
        text = parsing.unknown_command_error("\x1b[2J").text
        self.assertFalse(any(map(is_forbidden, text)), text)
        self.assertIn("desconhecido: " + "a" * 20 + ".", parsing.unknown_command_error("a" * 500).text)

    def test_command_word_names_each_command(self) -> None:
        commands = [
            (Register("a", "senha123"), "NOVO"), (Login("a", "senha123"), "ENTRAR"),
            (ListUsers(), "LISTA"), (PrivateMessage("b", "oi"), "CHAT"), (Broadcast("oi"), "TODOS"),
            (Quit(), "SAIR"), (Help(), "AJUDA"), (protocol.Ping(), "PING"), *TEACHING_COMMANDS,
        ]
        self.assertEqual([word for _, word in commands], list(protocol.COMMAND_WORDS))
        for command, word in commands:
            with self.subTest(word=word):
                self.assertEqual(protocol.command_word(command), word)

    def test_help_lines_one_info_per_command(self) -> None:
        self.assertEqual(protocol.COMMAND_WORDS, self.EXPECTED_WORDS)
        lines = list(formatting.help_lines(teacher=True))
        self.assertEqual(len(lines), len(self.EXPECTED_WORDS))
        for word, line in zip(self.EXPECTED_WORDS, lines):
            with self.subTest(word=word):
                help = protocol.COMMAND_HELP[word]
                self.assertEqual(line, f"INFO {help.syntax} - {help.meaning} (ex.: {help.example})")
                self.assertTrue(help.example.startswith(word), "the example uses the command")
                self.assertTrue(line.startswith(f"INFO {word} "), line)
                self.assertEqual(server_lines.parse_server_line(line).kind, "INFO")


# --- The greeting ------------------------------------------------------------------


class GreetingTest(unittest.TestCase):
    # (line, the greeting it is, or None: the peer is not BatChat)
    LINES = [
        ("BATCHAT 1 Bem-vindo ao BatChat!", protocol.Greeting(1, "Bem-vindo ao BatChat!")),
        ("BATCHAT 2 outro  texto ", protocol.Greeting(2, "outro  texto ")),  # a newer server still says who it is
        ("BATCHAT 1", protocol.Greeting(1, "")),
        ("BATCHAT 1 ", protocol.Greeting(1, "")),
        ("SSH-2.0-OpenSSH_9.2", None),
        ("HTTP/1.1 400 Bad Request", None),
        ("INFO Bem-vindo ao BatChat!", None),  # the greeting of before: any first line it was
        ("batchat 1 oi", None),
        (" BATCHAT 1 oi", None),
        ("BATCHAT oi", None),
        ("BATCHAT 0 oi", None),
        ("BATCHAT 01 oi", None),
        ("BATCHAT -1 oi", None),
        ("BATCHAT ١ oi", None),  # an Arabic-Indic digit is no version
        ("BATCHAT 1234567890 oi", None),
        ("BATCHAT  1 oi", None),
        ("BATCHATX 1 oi", None),
        ("", None),
    ]

    def test_lines(self) -> None:
        for line, greeting in self.LINES:
            with self.subTest(line=line):
                self.assertEqual(protocol.parse_greeting(line), greeting)

    def test_the_servers_greeting_is_this_version(self) -> None:
        line = protocol.format_greeting("Olá")
        self.assertEqual(protocol.parse_greeting(line), protocol.Greeting(protocol.PROTOCOL_VERSION, "Olá"))

    def test_the_commands_that_carry_a_password(self) -> None:
        carrying = {protocol.command_word(command) for command in [
            Register("alice", "senha123"), Login("alice", "senha123"), ListUsers(), PrivateMessage("bob", "oi"),
            Broadcast("oi"), Quit(), Help(), protocol.Ping(), *(command for command, _ in TEACHING_COMMANDS),
        ] if protocol.carries_password(command)}
        self.assertEqual(carrying, {"NOVO", "ENTRAR", "SENHA", "EXCLUIR"})
        self.assertEqual(carrying, set(protocol.PASSWORD_COMMANDS))


# --- parse_server_line ------------------------------------------------------------


class ParseServerLineTest(unittest.TestCase):
    # (line, kind, fields)
    LINES = [
        ("OK LISTA alice bob", "OK", ("LISTA", "alice bob")),
        ("ERRO CREDENCIAIS Senha incorreta.", "ERRO", ("CREDENCIAIS", "Senha incorreta.")),
        ("MSG alice oi  tudo bem", "MSG", ("alice", "oi  tudo bem")),
        ("TODOS bob olá", "TODOS", ("bob", "olá")),
        ("ENTROU alice", "ENTROU", ("alice",)),
        ("SAIU alice", "SAIU", ("alice",)),
        ("INFO Bem-vindo ao BatChat!", "INFO", ("Bem-vindo ao BatChat!",)),
        # Missing fields are padded with "".
        ("OK", "OK", ("", "")),
        ("OK SAIR", "OK", ("SAIR", "")),
        ("ERRO", "ERRO", ("", "")),
        ("MSG alice", "MSG", ("alice", "")),
        ("TODOS", "TODOS", ("", "")),
        ("ENTROU", "ENTROU", ("",)),
        ("SAIU", "SAIU", ("",)),
        ("INFO", "INFO", ("",)),
        # Unknown kinds (case matters) come back as INFO with the whole line.
        ("BLA bla bla", "INFO", ("BLA bla bla",)),
        ("ok LISTA", "INFO", ("ok LISTA",)),
        ("", "INFO", ("",)),
        (" OK LISTA", "INFO", (" OK LISTA",)),
    ]

    def test_lines(self) -> None:
        for line, kind, fields in self.LINES:
            with self.subTest(line=line):
                self.assertEqual(server_lines.parse_server_line(line), ServerLine(kind, fields))


class LimitsLineTest(unittest.TestCase):
    # (rate, burst, max_line, per_token) as the server's options hold them
    VALUES = [(5.0, 20, 2048, 10), (0.5, 1, 64, 1), (0.0, 0, 0, 0), (1e6, 1_000_000, 32768, 10),
              (0.001, 3, 100, 7), (2.5, 7, 300, 10)]
    # A LIMITES line's fields that are no limits: None.
    MALFORMED = [
        ("5", "20", ""), ("", "", ""), ("5", "20"), ("5", "20", "2048 extra"), ("5", "2.0", "2048"),
        ("5", "20", "1e3"), ("-1", "20", "2048"), ("+5", "20", "2048"), ("inf", "20", "2048"),
        ("nan", "20", "2048"), ("1e999", "20", "2048"), ("5,5", "20", "2048"), (" 5", "20", "2048"),
        ("5", "20", "2_048"), ("٥", "20", "2048"), ("5", "vinte", "2048"),
        ("5", "20", "2048", "1.5"), ("5", "20", "2048", "-1"), ("5", "20", "2048", "dez"),
        # What a hostile server could use to make a client overflow or wait for ever.
        ("1", "9" * 400, "2048"), ("5", "20", str(protocol.MAX_SERVER_LINE + 1)), ("1e7", "20", "2048"),
        ("5", str(10**7), "2048"), ("5", "20", "2048", str(10**7)),
    ]

    def test_round_trip(self) -> None:
        for values in self.VALUES:
            with self.subTest(values=values):
                parsed = server_lines.parse_server_line(prices.format_limits(*values))
                self.assertEqual(parsed.kind, "LIMITES")
                self.assertEqual(prices.parse_limits(parsed.fields), values)

    def test_malformed_fields(self) -> None:
        for fields in self.MALFORMED:
            with self.subTest(fields=fields):
                self.assertIsNone(prices.parse_limits(fields))

    def test_malformed_lines(self) -> None:
        for line in ("LIMITES", "LIMITES 5 20", "LIMITES  5 20 2048", "LIMITES 5 20 2048 x"):
            with self.subTest(line=line):
                self.assertIsNone(prices.parse_limits(server_lines.parse_server_line(line).fields))

    def test_an_older_or_a_newer_server_is_understood(self) -> None:
        """Without the fan-out price (a server older than it), what those charged; after
        it, fields a newer server may add are ignored, not a reason to drop the line."""
        for line, expected in [
            ("LIMITES 5 20 2048", (5.0, 20, 2048, 10)),
            ("LIMITES 5 20 2048 4 novidade 7", (5.0, 20, 2048, 4)),
            ("LIMITES 5 20 2048 10 ", (5.0, 20, 2048, 10)),
        ]:
            with self.subTest(line=line):
                self.assertEqual(prices.parse_limits(server_lines.parse_server_line(line).fields), expected)


class PriceTest(unittest.TestCase):
    """:func:`batchat.prices.line_price`, the one formula both sides use, and the refusal that states it."""

    def test_prices(self) -> None:
        everyone = protocol.ListUsers(everyone=True)
        # (command, fan-out, burst, per_token, price)
        cases = [
            (Broadcast("oi"), 9, 20, 10, 1), (Broadcast("oi"), 35, 20, 10, 4), (everyone, 61, 20, 10, 7),
            (protocol.ListUsers(), 61, 20, 10, 1), (PrivateMessage("bob", "oi"), 61, 20, 10, 1),
            (None, 61, 20, 10, 1), (Broadcast("oi"), 500, 20, 10, 20), (Broadcast("oi"), 35, 20, 0, 1),
            (Broadcast("oi"), 35, 20, 5, 8), (protocol.Quit(), 35, 20, 10, 0), (Broadcast("oi"), 35, 0, 10, 4),
        ]
        for command, fan_out, burst, per_token, price in cases:
            with self.subTest(command=command, fan_out=fan_out, burst=burst, per_token=per_token):
                self.assertEqual(prices.line_price(command, fan_out, burst=burst, per_token=per_token), price)

    def test_the_refusal_states_price_and_wait(self) -> None:
        for price, wait, stated in [(4, 0.35, 0.351), (1, 0.0001, 0.001), (20, 4, 4.001), (7, 1.2345, 1.235)]:
            with self.subTest(price=price, wait=wait):
                error = prices.slow_down_error(price, wait)
                self.assertEqual(error.code, ErrorCode.SLOW_DOWN)
                parsed = prices.parse_slow_down(error.text)
                assert parsed is not None
                self.assertEqual((parsed.price, parsed.wait), (price, stated), "always up: waiting that long is enough")
                self.assertEqual(prices.error_text("DEVAGAR", error.text), parsed.text)
                self.assertNotRegex(parsed.text, r"^\d", "the person reads no fields")
        for text in ("Devagar.", "4 x Devagar", "1.5 2 Devagar", ""):
            with self.subTest(text=text):
                self.assertIsNone(prices.parse_slow_down(text))
                self.assertEqual(prices.error_text("DEVAGAR", text), text)


# --- name_key and repr --------------------------------------------------------------


class NameKeyTest(unittest.TestCase):
    SAME = [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        (JOAO_NFD, JOAO_NFC),
        ("JOA\u0303O", JOAO_NFC),
    ]
    DIFFERENT = [
        ("alice", "alicia"),
        ("joao", JOAO_NFC),
        ("alice", "\u0430lice"),  # Cyrillic а
    ]

    def test_same_account(self) -> None:
        for first, second in self.SAME:
            with self.subTest(first=first, second=second):
                self.assertEqual(protocol.name_key(first), protocol.name_key(second))

    def test_different_accounts(self) -> None:
        for first, second in self.DIFFERENT:
            with self.subTest(first=first, second=second):
                self.assertNotEqual(protocol.name_key(first), protocol.name_key(second))


class PasswordReprTest(unittest.TestCase):
    PASSWORD = "segredo-muito-bom"
    REGISTER_REPR = "Register(name='alice')"
    LOGIN_REPR = "Login(name='alice')"
    # (a way to build the command, its expected repr)
    COMMANDS = [
        (lambda password: Register("alice", password), REGISTER_REPR),
        (lambda password: Login("alice", password), LOGIN_REPR),
        (lambda password: parsing.parse_command(f"NOVO alice {password}"), REGISTER_REPR),
        (lambda password: parsing.parse_command(f"ENTRAR alice {password}"), LOGIN_REPR),
    ]

    def test_repr_hides_password(self) -> None:
        for build, expected in self.COMMANDS:
            with self.subTest(command=expected):
                command = build(self.PASSWORD)
                self.assertEqual(repr(command), expected)
                self.assertNotIn(self.PASSWORD, repr(command))
                self.assertNotIn(self.PASSWORD, str(command))
                self.assertEqual(command.password, self.PASSWORD)



class ForbiddenCharactersTest(unittest.TestCase):
    def test_the_regex_is_exactly_the_unicode_definition(self) -> None:
        """Cc, Zl, Zp and the bidi controls, over every code point: one regex stands for them."""
        bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        for code in range(0x110000):
            char = chr(code)
            expected = char in bidi or unicodedata.category(char) in ("Cc", "Zl", "Zp")
            if protocol.is_forbidden_char(char) != expected:
                self.fail(f"U+{code:04X}: {protocol.is_forbidden_char(char)} != {expected}")


if __name__ == "__main__":
    unittest.main()


# --- TLS as a byte transform ------------------------------------------------------------


class TlsEndpointTest(unittest.TestCase):
    """Both ends in memory: bytes move only when the test moves them."""

    def server(self) -> tls_bytes.TlsEndpoint:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(TLS_CERT, TLS_KEY)
        return tls_bytes.TlsEndpoint(context, server_side=True)

    def client(self, cafile: Path = TLS_CERT) -> tls_bytes.TlsEndpoint:
        context = ssl.create_default_context(cafile=cafile)
        return tls_bytes.TlsEndpoint(context, server_side=False, server_hostname="127.0.0.1")

    def connect(self, client: tls_bytes.TlsEndpoint, server: tls_bytes.TlsEndpoint) -> None:
        """Shuttle handshake bytes until both ends are done (a few round trips at most)."""
        client_done = server_done = False
        for _ in range(5):
            client_done = client.handshake()
            server.feed(client.take_output())
            server_done = server.handshake()
            client.feed(server.take_output())
            if client_done and server_done:
                return
        self.fail("the handshake did not finish")

    def test_lines_both_ways_then_close(self) -> None:
        client, server = self.client(), self.server()
        self.assertIsNone(client.version)
        self.connect(client, server)
        self.assertEqual(client.version, server.version)
        self.assertEqual(server.decrypt(client.encrypt(b"ENTRAR alice senha123\n")),
                         (b"ENTRAR alice senha123\n", b""), "the plaintext, and nothing to answer")
        self.assertEqual(client.read(), b"", "nothing more yet")
        record = server.encrypt("MSG bob ação 🦇\n".encode())
        self.assertNotIn("ação".encode(), record, "encrypted")
        client.feed(record[:10])
        self.assertEqual(client.read(), b"", "half a record is no plaintext yet")
        client.feed(record[10:])
        self.assertEqual(client.read(), "MSG bob ação 🦇\n".encode())
        server.feed(client.close())
        self.assertIsNone(server.read(), "close_notify: the session is over")

    def test_end_of_connection_without_close_notify_is_the_end_too(self) -> None:
        client, server = self.client(), self.server()
        self.connect(client, server)
        server.feed(b"")
        self.assertIsNone(server.read())

    def test_a_server_from_another_ca_is_refused(self) -> None:
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.connect(self.client(cafile=OTHER_CA), self.server())

    def test_plaintext_is_no_handshake(self) -> None:
        server = self.server()
        server.feed(b"ENTRAR alice senha123\n")
        with self.assertRaises(ssl.SSLError):
            server.handshake()

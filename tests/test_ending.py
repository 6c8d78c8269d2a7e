"""How a connection's end is told in the log (:mod:`batchat.server.ending`), how a failed
socket is classed (:func:`batchat.server.main.link_failure`), and the login deadlines
(:class:`batchat.server.read_loop.LoginClock`): pure, table-driven, time passed in."""

from __future__ import annotations

import errno
import unittest

from batchat.server.ending import CLIENT_CLOSED, Closer, describe_end, Ending, SessionEnded
from batchat.server.limits import Limits
from batchat.server.read_loop import format_duration, login_timeout_error, LOGIN_CAP, LOGIN_IDLE, LoginClock
from batchat.server.main import link_failure

PEER = "127.0.0.1:5050"


class DescribeEndTest(unittest.TestCase):
    # (name, ending, the log line)
    ENDS = [
        ("alice", Ending(Closer.CLIENT, "SAIR"), "Conexão de 127.0.0.1:5050 (alice) encerrada pelo cliente (SAIR)."),
        (None, CLIENT_CLOSED, "Conexão de 127.0.0.1:5050 encerrada pelo cliente."),
        ("alice", Ending(Closer.LIMIT, "de mensagens por segundo (--flood-rate)"),
         "Conexão de 127.0.0.1:5050 (alice) encerrada pelo servidor: limite de mensagens por segundo (--flood-rate)."),
        (None, LOGIN_IDLE,
         "Conexão de 127.0.0.1:5050 encerrada pelo servidor: "
         "limite de tempo para entrar sem enviar comandos (--login-timeout)."),
        (None, LOGIN_CAP,
         "Conexão de 127.0.0.1:5050 encerrada pelo servidor: limite de tempo total para entrar (--login-cap)."),
        ("bob", Ending(Closer.SERVER, "o servidor está sendo encerrado"),
         "Conexão de 127.0.0.1:5050 (bob) encerrada pelo servidor: o servidor está sendo encerrado."),
        (None, Ending(Closer.SERVER), "Conexão de 127.0.0.1:5050 encerrada pelo servidor."),
        ("bob", Ending(Closer.LINK, "o cliente sumiu sem avisar (conexão reiniciada)"),
         "Conexão de 127.0.0.1:5050 (bob) caiu: o cliente sumiu sem avisar (conexão reiniciada)."),
        (None, Ending(Closer.LINK), "Conexão de 127.0.0.1:5050 caiu: falha de rede."),
    ]

    def test_one_phrase_per_closer(self) -> None:
        for name, ending, expected in self.ENDS:
            with self.subTest(expected=expected):
                self.assertEqual(describe_end(PEER, name, ending), expected)

    def test_every_closer_is_phrased_and_the_detail_said_once(self) -> None:
        for closer in Closer:
            with self.subTest(closer=closer):
                line = describe_end(PEER, "alice", Ending(closer, "detalhe"))
                self.assertEqual(line.count("detalhe"), 1, line)
                self.assertEqual(line.count("alice"), 1, line)
                self.assertTrue(line.endswith("."), line)

    def test_session_ended_carries_its_ending(self) -> None:
        self.assertEqual(SessionEnded(Closer.CLIENT, "SAIR").ending, Ending(Closer.CLIENT, "SAIR"))


class LinkFailureTest(unittest.TestCase):
    # (the socket's error, the ending)
    FAILURES = [
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
         Ending(Closer.LINK, "o cliente sumiu sem avisar (conexão reiniciada)")),
        (TimeoutError(errno.ETIMEDOUT, "Connection timed out"), Ending(Closer.LINK, "o cliente parou de responder")),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Ending(Closer.LINK, "erro de conexão (No route to host)")),
        (OSError("estranho"), Ending(Closer.LINK, "erro de conexão (estranho)")),
    ]

    def test_failures(self) -> None:
        for error, ending in self.FAILURES:
            with self.subTest(error=error):
                self.assertEqual(link_failure(error), ending)


class LoginClockTest(unittest.TestCase):
    def test_each_line_restarts_the_idle_deadline_within_the_cap(self) -> None:
        clock = LoginClock(timeout=60, cap=600, now=1000)
        self.assertEqual(clock.deadline(), (1060, LOGIN_IDLE))
        clock.line_received(1059)
        self.assertEqual(clock.deadline(), (1119, LOGIN_IDLE))
        clock.line_received(1590)
        self.assertEqual(clock.deadline(), (1600, LOGIN_CAP), "the cap comes first")

    def test_zero_turns_either_off(self) -> None:
        self.assertEqual(LoginClock(timeout=0, cap=600, now=0).deadline(), (600, LOGIN_CAP))
        self.assertEqual(LoginClock(timeout=60, cap=0, now=0).deadline(), (60, LOGIN_IDLE))
        off = LoginClock(timeout=0, cap=0, now=0)
        off.line_received(5)
        self.assertIsNone(off.deadline())

    def test_the_reply_says_which_deadline_and_what_to_do(self) -> None:
        limits = Limits(login_timeout=60, login_cap=600)
        again = "; conexão encerrada. Conecte de novo e use ENTRAR <usuário> <senha>."
        self.assertEqual(login_timeout_error(LOGIN_IDLE, limits).text,
                         f"Tempo para entrar esgotado (60 s sem nenhum comando){again}")
        self.assertEqual(login_timeout_error(LOGIN_CAP, limits).text,
                         f"Tempo para entrar esgotado (10 min desde a conexão){again}")

    def test_durations(self) -> None:
        durations = ((60, "60 s"), (600, "10 min"), (0.5, "0,5 s"), (1, "1 s"), (90, "90 s"), (7200, "120 min"))
        for seconds, text in durations:
            with self.subTest(seconds=seconds):
                self.assertEqual(format_duration(seconds), text)


if __name__ == "__main__":
    unittest.main()

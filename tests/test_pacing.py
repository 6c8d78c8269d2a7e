"""The client's pacing by what lines cost, against a server that decides for itself.

:class:`batchat.client.threads.ChatClient` sends to a real
:class:`batchat.server.session.ChatSession` (the server's handling of lines, with its
flood budget) whose clock is the pacing's made-up one: a script of 40 ``TODOS``
to 35 listeners, or of ``LISTA TODOS`` with 61 accounts, takes half a minute of
that time at the server's default limits and none of ours. And against a fake
server: one stating hostile limits (no line waits more than a minute in all,
and leaving does not wait at all), and one that says why it hangs up.
The same scripts against the real server are in ``test_client``.
"""

from __future__ import annotations

import queue
import threading

import protocol
from batchat import prices
from batchat.client import flow
from batchat.server.ending import SessionEnded
from batchat.server.limits import Limits
from tests.support import TIMEOUT
from tests.test_client_ui import FakeServerTestCase, PaceClock
from tests.test_state import FloodRoom

HOSTILE_LIMITS = "LIMITES 0.000000000001 1 2048"  # one line, then one per 30,000 years


class SessionServer:
    """A ChatSession with ``listeners`` others online and ``accounts`` accounts, behind the
    fake server's end of the client's connection: each line the client sends is handled by
    it, and what it answers goes back.

    Its clock is the moment the client sent the line it handles, in the pacing's
    made-up time: the client's sending thread, which never really waits, may be
    ahead of this one, and the server must not see a paced script as one burst.
    """

    def __init__(self, test: FakeServerTestCase, pace: PaceClock, listeners: int, accounts: int) -> None:
        self._pace, self._now = pace, 0.0
        self.room = FloodRoom(listeners, accounts, lambda: self._now)
        self.ended: queue.Queue[str] = queue.Queue()  # why the session ended, if it did
        self._test = test
        test.push(prices.format_limits(Limits().flood_rate, Limits().flood_burst, Limits().max_line))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        session, answered = self.room.session, 0
        try:
            for number, line in enumerate(self._test.server_lines):
                self._now = self._pace.sent[number][0]  # one send per line, noted before it
                if line.startswith("ENTRAR "):  # the session is logged in already
                    self._test.push("OK ENTRAR falante")
                    continue
                session.handle_line(line.rstrip("\n").encode())
                session.send_batch()
                lines = self.room.connection.lines
                self._test.push(*lines[answered:])
                answered = len(lines)
        except SessionEnded as ended:
            self.ended.put(str(ended))
        except OSError:  # the test is over: its end of the connection closed
            return

    def refusals(self) -> int:
        """How many lines the session refused for flooding (``ERRO DEVAGAR``)."""
        return sum(line.startswith("ERRO DEVAGAR ") for line in self.room.connection.lines)

    def heard(self, listener: int = 0) -> list[str]:
        """The public messages one of the listeners was sent."""
        return [line for line in self.room.others[listener].connection.lines if line.startswith("TODOS ")]


class ServerInTheLoopTest(FakeServerTestCase):
    """Scripts that cost more than a line each arrive whole, at the server's default limits."""

    def printed_until(self, pattern: str, count: int) -> list[str]:
        """What the client prints until ``count`` lines matched ``pattern`` (a substring)."""
        printed: list[str] = []
        while count:
            printed.append(self.screen.printed.get(timeout=TIMEOUT))
            count -= pattern in printed[-1]
        return printed

    def run_script(self, lines: list[str], *, lockstep: bool, listeners: int, accounts: int,
                   done: str, answers: int, refusals: int) -> tuple[SessionServer, list[str]]:
        """Log in and type ``lines``; what the client printed until ``answers`` lines said
        ``done``. The server refused exactly ``refusals`` of them, unseen, and hung up on none."""
        pace = PaceClock()
        self.start_client(lockstep=lockstep, pace=pace)
        server = SessionServer(self, pace, listeners, accounts)
        for line in ["ENTRAR falante senha123", *lines]:
            self.screen.typed.put(line)
        printed = self.printed_until(done, answers)
        self.assertEqual(server.ended.qsize(), 0, "the server never hung up on it")
        self.assertEqual([line for line in printed if "Erro" in line], [], "nothing refused for good")
        self.assertEqual(server.refusals(), refusals, "paced by the price, not by refusals")
        return server, printed

    def test_forty_todos_to_35_listeners_arrive_whole_and_in_order(self) -> None:
        """A TODOS to 35 others costs 4; a script never asked who is online, so the first
        refusal says the price, and the client paces by it from then on."""
        lines = [f"TODOS linha {number}" for number in range(40)]
        for lockstep in (True, False):  # a script, and a paste at a terminal
            with self.subTest(lockstep=lockstep):
                server, printed = self.run_script(
                    lines, lockstep=lockstep, listeners=35, accounts=61, done="eu: linha", answers=40, refusals=1)
                self.assertEqual(server.heard(), [f"TODOS falante linha {number}" for number in range(40)])
                self.assertEqual([line for line in printed if "eu: linha" in line],
                                 [f"[15:00] eu: linha {number}" for number in range(40)])

    def test_six_lista_todos_with_61_accounts_are_all_answered(self) -> None:
        """Each costs 7; the first one's price is not known before its answer, which says
        how many accounts there are: it goes alone, and the others by that price."""
        for lockstep in (True, False):
            with self.subTest(lockstep=lockstep):
                _, printed = self.run_script(
                    ["LISTA TODOS"] * 6, lockstep=lockstep, listeners=35, accounts=61,
                    done="Contas (61):", answers=6, refusals=0)
                self.assertEqual(sum(line.startswith("  conta") for line in printed), 5 * 61, "then the 6th")


class RefusalTest(FakeServerTestCase):
    def test_refused_lines_go_again_in_the_order_they_were_first_sent(self) -> None:
        pace = PaceClock()
        self.start_client(pace=pace)
        self.type_and_receive("TODOS um", "TODOS dois", "TODOS três")
        refusal = "ERRO DEVAGAR 1 0.2 Mensagens demais por segundo; tente de novo em 0,2 s."
        self.push(refusal, refusal)  # the first two, then three went through
        self.assertEqual([self.receive(), self.receive()], ["TODOS um", "TODOS dois"])
        self.push("OK TODOS", "OK TODOS", "OK TODOS")
        self.assertEqual([self.screen.wait_for(r"eu: ") for _ in range(3)],
                         ["[15:00] eu: três", "[15:00] eu: um", "[15:00] eu: dois"])
        self.assertGreaterEqual(pace.time, 0.2, "not before the server said")


class HostileLimitsTest(FakeServerTestCase):
    """``LIMITES`` from a hostile server: a line waits a minute at most, in all; leaving, never."""

    def test_no_line_waits_more_than_a_minute_in_all(self) -> None:
        pace = PaceClock()
        self.start_client(pace=pace)
        self.push(HOSTILE_LIMITS, "INFO pronto")
        self.screen.wait_for(r"pronto")
        self.type_and_receive("TODOS um", "TODOS dois", "TODOS três")
        self.assertEqual([when for when, _ in pace.sent], [0.0, flow.MAX_DELAY, flow.MAX_DELAY],
                         "the second and the third were both queued at 0")

    def test_leaving_goes_at_once_ahead_of_what_is_queued(self) -> None:
        for leave in ("/sair", None):  # None: Ctrl-D
            with self.subTest(leave=leave):
                self.start_client()  # the real clock: the queued lines would wait a real minute
                self.push(HOSTILE_LIMITS, "INFO pronto")
                self.screen.wait_for(r"pronto")
                self.type_and_receive("TODOS um")
                for line in ("TODOS dois", "TODOS três", leave):
                    self.screen.typed.put(line)
                self.assertEqual(self.receive(), "SAIR", "not after a minute, nor after the others")
                self.screen.wait_for(r"^2 linhas na fila não foram enviadas\.$")
                self.push("OK SAIR")
                self.hang_up()
                self.assertEqual(self.exit_status(), 0)


class DisconnectionTest(FakeServerTestCase):
    def test_the_servers_last_word_before_hanging_up_is_shown(self) -> None:
        """The ERRO that answers the line that was one too many, then the end: both said."""
        for lockstep in (True, False):
            with self.subTest(lockstep=lockstep):
                self.start_client(lockstep=lockstep)
                self.type_and_receive("TODOS um")
                self.push("ERRO LIMITE Você foi desconectado por enviar mensagens demais.")
                self.hang_up()
                self.screen.wait_for(r"^\[15:00\] Erro: Você foi desconectado por enviar mensagens demais\.$")
                self.screen.wait_for(r"^\[15:00\] O servidor encerrou a conexão\.$")
                self.assertEqual(self.exit_status(), 1)

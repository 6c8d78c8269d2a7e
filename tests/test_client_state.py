"""The client's protocol state (:class:`batchat.client.state.ClientState`) on its own:
server lines in, events out; no socket, no thread, the clock fixed (15:00 local)."""

from __future__ import annotations

import unittest

import protocol
from batchat.client.state import (
    FIRST_LINE_SHOWN, ClientState, Disconnect, Event, HangUp, LoggedIn, Reconnect, Resend, SendLine, SetLimits,
    SetPrompt, Show, replay_overlap,
)
from batchat.client import states
from batchat.client.flow import ServerLimits
from batchat.client.privates import KEPT
from batchat.client.render import Style, timed
from batchat.client.states import LinkState, SessionMachine, SessionState, StateError, Trigger
from tests.clocks import CLOCK, stamp

LOGIN = protocol.Login("alice", "senha123")
WHEN = stamp(2026, 11, 21, 9, 2)
GREETING = protocol.format_greeting("Bem-vindo ao BatChat!")


def described(events: list[Event]) -> list[object]:
    """Events as a test reads them: a shown line as its plain text, the rest as they are."""
    return [timed(event.shown, CLOCK).plain() if isinstance(event, Show) else event for event in events]


def feed(state: ClientState, *lines: str) -> list[object]:
    """Every event the lines give, in order."""
    return [event for line in lines for event in described(state.receive(line))]


def served(**options: bool) -> ClientState:
    """A state whose connection's server greeted it as BatChat: what follows is the session."""
    state = ClientState(CLOCK, **options)
    state.connected("127.0.0.1:5050")
    state.receive(GREETING)
    return state


def logged_in(**options: bool) -> ClientState:
    state = served(**options)
    state.sent(LOGIN)
    feed(state, "OK ENTRAR alice")
    return state


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
                self.assertEqual(replay_overlap(list(shown), list(replayed)), expected)


class ReceiveTest(unittest.TestCase):
    """One command sent (or none), one line received: what the shell is told to do."""

    # (command sent before, server line, events; shown lines as plain text)
    CASES: list[tuple[protocol.Command | None, str, list[object]]] = [
        (None, "INFO Bom dia", ["[15:00] Bom dia"]),
        (None, "TODOS bob oi alice", ["[15:00] bob: oi alice"]),
        (None, f"HISTORICO carol {WHEN} bom dia", ["[histórico] [09:02] carol: bom dia"]),
        (protocol.PrivateMessage("Bob", "oi"), "OK CHAT bob", ["[15:00] eu → bob: oi"]),
        (protocol.PrivateMessage("bob", "oi"), "OK CHAT bob GUARDADA",
         ["[15:00] eu → bob: oi  (guardada até bob entrar)"]),
        (protocol.Broadcast("oi"), "OK TODOS", ["[15:00] eu: oi"]),
        (protocol.Broadcast("oi"), "ERRO LIMITE Devagar.", ["[15:00] Erro: Devagar."]),
        (protocol.ListUsers(everyone=True), "OK LISTA TODOS", ["[15:00] Nenhuma conta."]),
        (protocol.Ping(), "OK PING", ["[15:00] O servidor está respondendo."]),
        (protocol.Quit(), "OK SAIR", ["[15:00] Até logo!"]),  # not logged in here
        (LOGIN, "OK ENTRAR alice",
         [LoggedIn("alice"), SetPrompt("alice> "), "[15:00] Você entrou no chat como alice."]),
        (LOGIN, "ERRO CREDENCIAIS Usuário ou senha incorretos.", ["[15:00] Erro: Usuário ou senha incorretos."]),
        (LOGIN, "INFO Bom dia", ["[15:00] Bom dia"]),  # a notice is no part of the reply
    ]

    def test_lines(self) -> None:
        for command, line, expected in self.CASES:
            with self.subTest(command=command, line=line):
                state = served()
                if command is not None:
                    state.sent(command)
                self.assertEqual(feed(state, line), expected)

    def test_each_answer_settles_its_command_in_order(self) -> None:
        state = served()
        first, second = state.sent(protocol.Broadcast("um")), state.sent(protocol.Broadcast("dois"))
        feed(state, "ERRO LIMITE Devagar.")
        self.assertEqual((first.outcome, second.outcome), ("LIMITE", None))
        self.assertTrue(state.is_pending(second))
        feed(state, "OK TODOS")
        self.assertEqual(second.outcome, "OK")
        self.assertFalse(state.is_pending(second))

    def test_online_names_follow_the_server(self) -> None:
        state = logged_in()
        state.sent(protocol.ListUsers())
        feed(state, "OK LISTA alice bob", "ENTROU carol", "ENTROU dani", "SAIU bob")
        self.assertEqual(state.online, {"carol", "dani"})
        state.sent(protocol.ListUsers(everyone=True))
        feed(state, "USUARIO TODOS ONLINE", "OK LISTA TODOS")
        self.assertEqual(state.online, {"carol", "dani"}, "not {'TODOS'}")


class LoginReplyTest(unittest.TestCase):
    """A login's reply: PENDENTE, their INFO and HISTORICO, then OK ENTRAR, which ends it."""

    REPLY = [
        f"PENDENTE bob {WHEN} oi alice",
        "INFO 1 mensagem privada esperava por você.",
        f"HISTORICO carol {WHEN} bom dia",
    ]

    def test_held_until_ok_entrar_then_shown_after_it(self) -> None:
        state = served(list_after_login=True)
        state.sent(LOGIN)
        self.assertEqual(feed(state, *self.REPLY), [], "held: who we are is not known yet")
        events = state.receive("OK ENTRAR alice")
        self.assertEqual(described(events), [
            LoggedIn("alice"),
            SetPrompt("alice> "),
            "[15:00] Você entrou no chat como alice.",
            "[enquanto você estava fora] [09:02] bob → eu: oi alice",
            "[15:00] 1 mensagem privada esperava por você.",
            "[histórico] [09:02] carol: bom dia",
            SendLine("LISTA", protocol.ListUsers()),
        ])
        pending = events[3]
        assert isinstance(pending, Show)
        self.assertEqual(pending.shown.parts[-1], (Style.MENTION, "alice"), "my name, known by then")

    def test_lines_after_ok_entrar_are_shown_at_once(self) -> None:
        state = logged_in()
        self.assertEqual(feed(state, f"HISTORICO carol {WHEN} oi", "INFO aviso"),
                         ["[histórico] [09:02] carol: oi", "[15:00] aviso"])

    def test_automatic_relogin_shows_only_the_history_not_shown_yet(self) -> None:
        state = logged_in(reconnect=True)
        feed(state, f"HISTORICO carol {WHEN} oi", "TODOS bob oi")
        state.sent(protocol.Broadcast("minha"))
        feed(state, "OK TODOS")
        self.assertIn(Reconnect(), state.connection_lost("O servidor encerrou a conexão."))
        state.connected("127.0.0.1:5050")
        self.assertIsNone(state.log_in_again(), "not before the new connection's greeting")
        self.assertEqual(feed(state, GREETING), [
            "[15:00] Conexão com 127.0.0.1:5050 restabelecida.", "[15:00] Bem-vindo ao BatChat!",
        ])
        again = state.log_in_again()
        self.assertEqual(again, SendLine("ENTRAR alice senha123", LOGIN))
        state.sent(LOGIN, automatic=True)
        replay = [f"HISTORICO {who} {WHEN} {text}" for who, text in
                  [("bob", "oi"), ("alice", "minha"), ("bob", "oi"), ("dani", "durante a queda")]]
        self.assertEqual(feed(state, *replay, "OK ENTRAR alice"), [
            LoggedIn("alice"),
            SetPrompt("alice> "),
            "[15:00] De volta ao chat como alice.",
            # Shown before: bob's "oi" and "minha"; new: another "oi" from bob, and dani's.
            "[histórico] [09:02] bob: oi",
            "[histórico] [09:02] dani: durante a queda",
        ])

    def test_a_reply_cut_short_still_shows_what_came(self) -> None:
        state = served()
        state.sent(LOGIN)
        feed(state, *self.REPLY)
        self.assertEqual(described(state.connection_lost("caiu"))[:3], [
            "[enquanto você estava fora] [09:02] bob → eu: oi alice",  # delivered, as far as the server knows
            "[15:00] 1 mensagem privada esperava por você.",
            "[histórico] [09:02] carol: bom dia",
        ])
        state.connected("127.0.0.1:5050")
        feed(state, GREETING)
        state.sent(LOGIN, automatic=True)
        self.assertEqual(feed(state, *self.REPLY[2:], "OK ENTRAR alice")[2:],
                         ["[15:00] De volta ao chat como alice."], "that history was shown already")


class IdentificationTest(unittest.TestCase):
    """A connection's first line: the greeting, a refusal, or proof of another program."""

    NOT_BATCHAT = [
        "SSH-2.0-OpenSSH_9.2",
        "HTTP/1.1 400 Bad Request",
        "220 mail.exemplo ESMTP",
        "INFO Bem-vindo ao BatChat!",  # a server of before the greeting: it has no BATCHAT line
        "batchat 1 Bem-vindo",  # the word is exact...
        "BATCHAT Bem-vindo",  # ...and a version follows it
        "BATCHAT 01 Bem-vindo",
        "OK ENTRAR alice",
        "",
    ]

    def test_the_greeting_identifies_the_server(self) -> None:
        state = ClientState(CLOCK)
        state.connected("127.0.0.1:5050")
        self.assertFalse(state.identified)
        self.assertEqual(feed(state, "BATCHAT 7 Olá de um servidor mais novo"), [
            "[15:00] Conectado a 127.0.0.1:5050. Olá de um servidor mais novo",
        ])
        self.assertTrue(state.identified)
        self.assertEqual(feed(state, "INFO depois"), ["[15:00] depois"])

    def test_any_other_first_line_is_not_batchat_and_ends_the_session(self) -> None:
        for first in self.NOT_BATCHAT:
            with self.subTest(first=first):
                state = ClientState(CLOCK, reconnect=True)
                state.connected("127.0.0.1:5050")
                self.assertEqual(feed(state, first, GREETING), [Disconnect(
                    f'127.0.0.1:5050 não é um servidor BatChat (a primeira linha foi "{first}"), então '
                    "nenhuma senha foi enviada: confira o endereço e a porta (--host, --port).")])
                self.assertFalse(state.identified)

    def test_a_stranger_after_a_drop_gets_no_password_and_no_reconnection(self) -> None:
        state = logged_in(reconnect=True)
        self.assertIn(Reconnect(), state.connection_lost("O servidor encerrou a conexão."))
        state.connected("127.0.0.1:5050")
        (ended,) = feed(state, "SSH-2.0-OpenSSH_9.2")
        assert isinstance(ended, Disconnect)
        self.assertEqual(ended.how, '127.0.0.1:5050 não é mais um servidor BatChat (a primeira linha foi '
                                    '"SSH-2.0-OpenSSH_9.2"): outro programa deve ter ocupado a porta, então '
                                    "nenhuma senha foi enviada e o cliente não vai reconectar.")
        self.assertIsNone(state.log_in_again(), "the password stays here")
        self.assertEqual(described(state.connection_lost(ended.how)), [SetPrompt("> "), f"[15:00] {ended.how}"])

    def test_the_first_line_quoted_is_short_and_harmless(self) -> None:
        state = ClientState(CLOCK)
        state.connected("[::1]:22")
        (ended,) = feed(state, "\x1b[2J" + "x" * 200)
        assert isinstance(ended, Disconnect)
        quoted = ended.how.split('"')[1]
        self.assertEqual(len(quoted), FIRST_LINE_SHOWN)
        self.assertTrue(quoted.startswith("\\x1b[2Jxxx") and quoted.endswith("x…"), quoted)

    def test_a_refusal_before_the_greeting_ends_the_connection_not_the_session(self) -> None:
        state = logged_in(reconnect=True)
        state.connection_lost("caiu")
        state.connected("127.0.0.1:5050")
        self.assertEqual(feed(state, "ERRO LIMITE Conexões demais deste IP."), [
            Disconnect("127.0.0.1:5050 recusou a conexão: Conexões demais deste IP."),
        ])
        self.assertIsNone(state.log_in_again())
        self.assertIn(Reconnect(), state.connection_lost("127.0.0.1:5050 recusou a conexão."), "tried later")

    def test_a_tls_server_tells_a_plaintext_client_to_use_tls(self) -> None:
        for text in ("Este servidor BatChat usa TLS.", "qualquer texto"):  # by the code, not the words
            with self.subTest(text=text):
                state = logged_in(reconnect=True)
                state.connection_lost("caiu")
                state.connected("127.0.0.1:5050")
                (ended,) = feed(state, f"ERRO PROTOCOLO_INVALIDO {text}")
                assert isinstance(ended, Disconnect)
                self.assertIn("use --tls", ended.how)
                self.assertIsNone(state.log_in_again())
                self.assertNotIn(Reconnect(), state.connection_lost(ended.how), "it would only be told again")
        state = ClientState(CLOCK)
        state.connected("127.0.0.1:5050", " com TLSv1.3", encrypted=True)
        self.assertEqual(feed(state, "ERRO PROTOCOLO_INVALIDO Outra coisa."),
                         [Disconnect("127.0.0.1:5050 recusou a conexão: Outra coisa.")])


class AutomaticLoginRefusedTest(unittest.TestCase):
    def relogging(self) -> ClientState:
        state = logged_in(reconnect=True)
        state.connection_lost("caiu")
        state.connected("127.0.0.1:5050")
        feed(state, GREETING)
        state.sent(LOGIN, automatic=True)
        return state

    def test_refused_for_good_forgets_the_password(self) -> None:
        state = self.relogging()
        self.assertEqual(feed(state, "ERRO CREDENCIAIS Usuário ou senha incorretos."), [
            "[15:00] Erro: Usuário ou senha incorretos.",
            "[15:00] Não foi possível entrar de novo como alice; entre com ENTRAR alice.",
        ])
        self.assertIsNone(state.credentials)
        self.assertIsNone(state.log_in_again())
        self.assertNotIn(Reconnect(), state.connection_lost("caiu"))

    def test_refused_for_now_hangs_up_to_try_later(self) -> None:
        state = self.relogging()
        self.assertEqual(feed(state, "ERRO LIMITE O servidor está cheio."), [
            "[15:00] Erro: O servidor está cheio.",
            "[15:00] Não foi possível entrar de novo como alice agora; tentando mais tarde.",
            HangUp(),
        ])
        self.assertEqual(state.credentials, LOGIN)


class PrivatesTest(unittest.TestCase):
    """Issue 19 item 11: the private lines of the run, both ways, and who wrote last (for
    /r), kept across a reconnection; /privadas shows them with when they were written."""

    def shown(self, state: ClientState) -> list[str]:
        return [timed(shown, CLOCK).plain() for shown in state.privates.shown(CLOCK)]

    def test_both_ways_kept_across_a_reconnection(self) -> None:
        state = logged_in(reconnect=True)
        self.assertEqual(self.shown(state), ["Nenhuma mensagem privada desde que o cliente abriu."])
        self.assertIsNone(state.privates.last_sender)
        feed(state, "MSG bob oi alice", "TODOS carol público")
        self.assertEqual(state.privates.last_sender, "bob")
        state.sent(protocol.PrivateMessage("Bob", "oi bob"))
        feed(state, "OK CHAT bob")
        state.sent(protocol.PrivateMessage("carol", "até"))
        feed(state, "OK CHAT carol GUARDADA")
        state.connection_lost("caiu")
        state.connected("127.0.0.1:5050")
        feed(state, GREETING)
        state.sent(LOGIN, automatic=True)
        feed(state, f"PENDENTE dani {WHEN} enquanto isso", "INFO 1 mensagem privada esperava por você.",
             "OK ENTRAR alice")
        self.assertEqual(state.privates.last_sender, "dani", "kept for me while away: the last to write")
        self.assertEqual(self.shown(state), [
            "Últimas mensagens privadas (4):",
            "  [09:02] dani → eu: enquanto isso",  # in the order they were written
            "  [15:00] bob → eu: oi alice",
            "  [15:00] eu → bob: oi bob",  # the name as the server confirmed it
            "  [15:00] eu → carol: até",
        ])

    def test_only_the_last_ones_and_only_this_accounts(self) -> None:
        state = logged_in()
        feed(state, *(f"MSG bob {number}" for number in range(KEPT + 5)))
        rows = self.shown(state)
        self.assertEqual(rows[0], f"Últimas mensagens privadas ({KEPT}):")
        self.assertEqual(rows[1], "  [15:00] bob → eu: 5")
        self.assertEqual(rows[-1], f"  [15:00] bob → eu: {KEPT + 4}")
        state.sent(protocol.Login("Alice", "senha123"))
        feed(state, "OK ENTRAR alice")  # the same account again: kept
        self.assertEqual(len(self.shown(state)), KEPT + 1)
        state.sent(protocol.Login("zoe", "senha123"))
        feed(state, "OK ENTRAR zoe")  # another account: its own lines only
        self.assertEqual(self.shown(state), ["Nenhuma mensagem privada desde que o cliente abriu."])
        self.assertIsNone(state.privates.last_sender)


class ConnectionLostTest(unittest.TestCase):
    def test_unconfirmed_messages_are_reported(self) -> None:
        state = served()
        state.sent(protocol.PrivateMessage("bob", "oi"))
        state.sent(protocol.Ping())
        self.assertEqual(described(state.connection_lost("O servidor encerrou a conexão.")), [
            "[15:00] Sem confirmação do servidor; talvez não tenha chegado: eu → bob: oi",
            SetPrompt("> "),
            "[15:00] O servidor encerrou a conexão.",
        ])

    # (reconnect?, logged in?, replaced?, what follows how it ended, reconnects?)
    ENDINGS = [
        (False, True, False, [], False),
        (True, False, False, ["[15:00] Para voltar, rode o cliente de novo."], False),
        (True, True, True, ["[15:00] Sua conta entrou em outro lugar; este cliente não vai reconectar."], False),
        (True, True, False,
         ["[15:00] Tentando reconectar (1, 2, 4... até 30 s entre tentativas; Ctrl-C para sair)."], True),
    ]

    def test_whether_to_reconnect(self) -> None:
        for reconnect, log_in, replaced, said, reconnects in self.ENDINGS:
            with self.subTest(reconnect=reconnect, log_in=log_in, replaced=replaced):
                state = logged_in(reconnect=reconnect) if log_in else served(reconnect=reconnect)
                if replaced:
                    self.assertEqual(feed(state, "ERRO SESSAO_SUBSTITUIDA Outro lugar."),
                                     ["[15:00] Erro: Outro lugar."])
                events = described(state.connection_lost("caiu"))
                self.assertEqual(events[:2], [SetPrompt("> "), "[15:00] caiu"])
                self.assertEqual(events[2:], [*said, *([Reconnect()] if reconnects else [])])
                self.assertIsNone(state.own_name)
                self.assertEqual(state.online, frozenset())

    def test_leaving_without_the_goodbye(self) -> None:
        state = logged_in()
        state.sent(protocol.Broadcast("importante"))
        state.sent(protocol.Quit())
        self.assertFalse(state.said_goodbye)
        self.assertEqual(described(state.left_without_goodbye("caiu.")), [
            "[15:00] Sem confirmação do servidor; talvez não tenha chegado: eu: importante",
            "[15:00] caiu. Sem confirmação do SAIR.",
        ])

    def test_goodbye(self) -> None:
        state = logged_in()
        state.sent(protocol.Quit())
        feed(state, "OK SAIR")
        self.assertTrue(state.said_goodbye)


class ConversationTest(unittest.TestCase):
    def test_the_prompt_shows_the_conversation_across_a_reconnection(self) -> None:
        state = logged_in(reconnect=True)
        self.assertEqual(described(state.converse("bob")), [
            SetPrompt("alice → bob> "),
            "Conversa com bob: o que você digitar vai só para bob; "
            "/conversa sozinho volta a falar com todos.",
        ])
        self.assertEqual(state.partner, "bob")
        self.assertEqual(state.connection_lost("caiu")[0], SetPrompt("> "))
        self.assertTrue(state.logged_in, "about to log in again: text still has somewhere to go")
        state.connected("127.0.0.1:5050")
        feed(state, GREETING)
        state.sent(LOGIN, automatic=True)
        self.assertIn(SetPrompt("alice → bob> "), feed(state, "OK ENTRAR alice"))
        self.assertEqual(described(state.converse(None)), [
            SetPrompt("alice> "), "Fim da conversa privada: o que você digitar vai para todos.",
        ])
        self.assertIsNone(state.partner)

    def test_logged_in(self) -> None:
        state = served()
        self.assertFalse(state.logged_in)
        state.sent(LOGIN)
        feed(state, "ERRO CREDENCIAIS Usuário ou senha incorretos.")
        self.assertFalse(state.logged_in)
        self.assertTrue(logged_in().logged_in)


class FirstMinuteTest(unittest.TestCase):
    """What a person meets in the first minute: one greeting line, the limits, lists, NOVO."""

    def test_one_greeting_line_says_where_we_are(self) -> None:
        state = ClientState(CLOCK)
        state.connected("127.0.0.1:5050", " com TLSv1.3", encrypted=True)
        self.assertEqual(feed(state, GREETING, "INFO depois"), [
            "[15:00] Conectado a 127.0.0.1:5050 com TLSv1.3. Bem-vindo ao BatChat!", "[15:00] depois",
        ])

    def test_limits_are_taken_not_shown(self) -> None:
        state = served()
        self.assertEqual(feed(state, "LIMITES 2.5 7 4096"), [SetLimits(ServerLimits(2.5, 7, 4096))])
        self.assertEqual(feed(state, "LIMITES muitos"), [], "a malformed line is ignored")

    def test_lista_todos_is_a_list_with_a_header(self) -> None:
        state = logged_in()
        state.sent(protocol.ListUsers(everyone=True))
        lines = ["USUARIO alice ONLINE", f"USUARIO bob OFFLINE {WHEN}", "USUARIO carol OFFLINE"]
        self.assertEqual(feed(state, *lines), [], "held until the answer ends")
        self.assertEqual(feed(state, "OK LISTA TODOS"), [
            "[15:00] Contas (3):",
            "  alice: online agora",
            "  bob: offline, visto por último hoje 09:02",
            "  carol: offline, nunca entrou",
        ])
        shown = state.receive(lines[0])  # outside an answer, still a row
        self.assertNotIn(Style.SENDER, [style for event in shown for style, _ in event.shown.parts])

    def test_kept_private_messages_show_the_arrow(self) -> None:
        state = served()
        state.sent(LOGIN)
        events = feed(state, f"PENDENTE bob {WHEN} oi", "INFO 1 mensagem privada esperava por você.",
                      "OK ENTRAR alice")
        self.assertIn("[enquanto você estava fora] [09:02] bob → eu: oi", events)

    def test_a_new_account_logs_in_with_the_same_password(self) -> None:
        state = served(log_in_after_register=True)
        state.sent(protocol.Register("alice", "senha123"), line="NOVO alice senha123")
        self.assertEqual(feed(state, "OK NOVO alice"), [
            "[15:00] Conta alice criada; entrando…",
            SendLine("ENTRAR alice senha123", LOGIN, automatic=False),
        ])
        script = served()  # a script says ENTRAR itself
        script.sent(protocol.Register("alice", "senha123"), line="NOVO alice senha123")
        self.assertEqual(feed(script, "OK NOVO alice"),
                         ["[15:00] Conta alice criada. Agora entre com: ENTRAR alice"])

    def test_a_flood_refusal_is_sent_again_not_shown(self) -> None:
        state = logged_in()
        sent = state.sent(protocol.Broadcast("oi"), line="TODOS oi")
        refusal = "Mensagens demais por segundo; tente de novo em 0,35 s."
        events = state.receive(f"ERRO DEVAGAR 4 0.35 {refusal}")
        self.assertEqual([type(event) for event in events], [Resend])
        (resend,) = events
        assert isinstance(resend, Resend)
        self.assertEqual((resend.sent, resend.price, resend.wait), (sent, 4, 0.35))
        self.assertEqual(described(list(resend.refusal)), [f"[15:00] Erro: {refusal}"], "shown if given up")
        self.assertFalse(sent.finished, "it waits to be sent again")
        login = state.sent(LOGIN, line="ENTRAR alice senha123")  # a login is refused for flooding alike
        self.assertEqual([type(event) for event in state.receive(f"ERRO DEVAGAR 1 0.2 {refusal}")], [Resend])
        self.assertIsNone(login.outcome)

    def test_a_limit_that_is_not_the_flood_limit_is_shown(self) -> None:
        """Only DEVAGAR is sent again: any other ERRO is shown, above all the one the server
        says last before it hangs up, which answers the line that was one too many."""
        for line in ["ERRO LIMITE Você foi desconectado por enviar mensagens demais.",
                     "ERRO LIMITE Tentativas de login demais; espere um minuto.",
                     "ERRO LIMITE Devagar: mensagens demais por segundo; esta foi descartada."]:
            for command, typed in [(protocol.Broadcast("oi"), "TODOS oi"), (LOGIN, "ENTRAR alice senha123")]:
                with self.subTest(line=line, command=command):
                    state = logged_in()
                    sent = state.sent(command, line=typed)
                    self.assertEqual(feed(state, line), [f"[15:00] Erro: {line.split(' ', 2)[2]}"])
                    self.assertEqual(sent.outcome, "LIMITE")

    def test_prices_come_from_what_the_session_knows(self) -> None:
        """LIMITES, who is online and how many accounts there are; what a refusal states
        fills in what a script never asked (who was online before it came)."""
        state = ClientState(CLOCK)
        state.connected("127.0.0.1:5050")
        everyone, broadcast = protocol.ListUsers(everyone=True), protocol.Broadcast("oi")
        feed(state, GREETING, "LIMITES 5 20 2048 10", "ENTROU bob", "ENTROU carol")
        known = state.price_known
        self.assertEqual((state.price(broadcast), known(broadcast)), (1, True), "before login: no fan-out")
        self.assertEqual((state.price(everyone), known(everyone)), (1, True))
        state.sent(LOGIN)
        self.assertEqual(known(broadcast), False, "once the login is on its way, there is")
        feed(state, "OK ENTRAR alice", "SAIU bob", "SAIU carol")
        self.assertEqual((state.price(broadcast), known(broadcast)), (1, False), "who listens is not known")
        self.assertEqual((state.price(everyone), known(everyone)), (1, False), "nor how many accounts")
        self.assertEqual((state.price(protocol.Quit()), known(protocol.Quit())), (0, True))
        self.assertEqual((state.price(protocol.ListUsers()), known(protocol.ListUsers())), (1, True))
        state.sent(everyone, line="LISTA TODOS")
        feed(state, *[f"USUARIO conta{number} OFFLINE" for number in range(61)], "OK LISTA TODOS")
        self.assertEqual((state.price(everyone), known(everyone)), (7, True))
        state.sent(broadcast, line="TODOS oi")
        feed(state, "ERRO DEVAGAR 4 0.6 Devagar.")  # 30 to 39 others online, none known by name
        self.assertEqual((state.price(broadcast), known(broadcast)), (4, False))
        feed(state, "ENTROU bob", *[f"SAIU ouvinte{number}" for number in range(21)])
        self.assertEqual(state.price(broadcast), 2, "30 unseen, bob in, 21 unseen out: 10 listeners")
        state.sent(protocol.ListUsers(), line="LISTA")
        feed(state, "OK LISTA alice bob carol")
        self.assertEqual((state.price(broadcast), known(broadcast)), (1, True), "everyone by name now: two")
        feed(state, "LIMITES 5 20 2048 1")
        self.assertEqual(state.price(broadcast), 3, "one more token per listener")
        state.sent(everyone, line="LISTA TODOS")
        feed(state, "ERRO DEVAGAR 20 1 Devagar.")  # more accounts since, at least 19
        self.assertEqual(state.price(everyone), 20)
        state.connection_lost("O servidor encerrou a conexão.")
        state.sent(LOGIN, automatic=True)  # logging in again
        self.assertEqual((known(broadcast), known(everyone)), (False, True), "accounts outlive a connection")

    def test_the_clients_own_ping_is_answered_silently(self) -> None:
        state = logged_in()
        state.sent(protocol.Ping(), automatic=True, line="PING")
        self.assertEqual(feed(state, "OK PING"), [])


L, S = LinkState, SessionState
TABLES = [("link", states.LINK_TRANSITIONS), ("session", states.SESSION_TRANSITIONS)]


class TransitionTableTest(unittest.TestCase):
    """The machines of :mod:`batchat.client.states` move by their tables, and only by them."""

    def machine(self, link: LinkState = L.IDENTIFIED, session: SessionState = S.LOGGED_OUT) -> SessionMachine:
        """A machine in these states (by default, the two where a LOSS is the only trigger
        both tables name, and each has a row for it)."""
        machine = SessionMachine()
        machine.link, machine.session = link, session
        return machine

    def test_every_row_moves_its_machine_and_leaves_the_other(self) -> None:
        for name, table in TABLES:
            other = "session" if name == "link" else "link"
            for (start, trigger), end in table.items():
                with self.subTest(machine=name, state=start, trigger=trigger):
                    machine = self.machine(**{name: start})
                    before = getattr(machine, other)
                    machine.fire(trigger)
                    self.assertIs(getattr(machine, name), end)
                    if trigger is not Trigger.LOSS:  # the one trigger both tables name
                        self.assertIs(getattr(machine, other), before)

    def test_a_move_no_table_has_is_an_error_and_moves_nothing(self) -> None:
        for name, table in TABLES:
            named = {trigger for _, trigger in table}
            for start in LinkState if name == "link" else SessionState:
                for trigger in sorted(named, key=lambda trigger: trigger.value):
                    if (start, trigger) in table:
                        continue
                    with self.subTest(machine=name, state=start, trigger=trigger):
                        machine = self.machine(**{name: start})
                        before = (machine.link, machine.session)
                        with self.assertRaises(StateError) as raised:
                            machine.fire(trigger)
                        self.assertEqual((raised.exception.state, raised.exception.trigger), (start, trigger))
                        self.assertEqual((machine.link, machine.session), before)

    # (connection state, login state, trigger, connection state after, login state after)
    ROWS = [
        (L.CLOSED, S.LOGGED_OUT, Trigger.CONNECT, L.AWAITING_GREETING, S.LOGGED_OUT),
        (L.AWAITING_GREETING, S.AWAY, Trigger.GREETING, L.IDENTIFIED, S.AWAY),
        (L.AWAITING_GREETING, S.AWAY, Trigger.REFUSAL, L.TURNED_AWAY, S.AWAY),
        (L.AWAITING_GREETING, S.AWAY, Trigger.STRANGER, L.NOT_BATCHAT, S.AWAY),
        (L.NOT_BATCHAT, S.AWAY, Trigger.LOSS, L.GIVEN_UP, S.AWAY),
        (L.TURNED_AWAY, S.AWAY, Trigger.LOSS, L.CLOSED, S.AWAY),
        (L.IDENTIFIED, S.LOGGED_OUT, Trigger.LOGIN_SENT, L.IDENTIFIED, S.LOGGING_IN),
        (L.IDENTIFIED, S.LOGGING_IN, Trigger.LOGIN_OK, L.IDENTIFIED, S.LOGGED_IN),
        (L.IDENTIFIED, S.LOGGING_IN, Trigger.LOGIN_REFUSED, L.IDENTIFIED, S.LOGGED_OUT),
        (L.IDENTIFIED, S.LOGGED_IN, Trigger.LOSS, L.CLOSED, S.AWAY),
        (L.IDENTIFIED, S.LOGGING_IN, Trigger.LOSS, L.CLOSED, S.LOGGED_OUT),
        (L.IDENTIFIED, S.AWAY, Trigger.LOGIN_SENT, L.IDENTIFIED, S.LOGGING_IN_AGAIN),
        (L.IDENTIFIED, S.LOGGING_IN_AGAIN, Trigger.LOGIN_REFUSED, L.IDENTIFIED, S.AWAY),
        (L.IDENTIFIED, S.LOGGING_IN_AGAIN, Trigger.PASSWORD_REJECTED, L.IDENTIFIED, S.LOGGED_OUT),
        (L.IDENTIFIED, S.LOGGED_IN, Trigger.GOODBYE, L.IDENTIFIED, S.SAID_GOODBYE),
        (L.IDENTIFIED, S.LOGGED_IN, Trigger.TAKEN_OVER, L.IDENTIFIED, S.REPLACED),
        (L.IDENTIFIED, S.REPLACED, Trigger.LOSS, L.CLOSED, S.REPLACED),
    ]

    def test_rows(self) -> None:
        for link, session, trigger, link_after, session_after in self.ROWS:
            with self.subTest(link=link, session=session, trigger=trigger):
                machine = self.machine(link, session)
                machine.fire(trigger)
                self.assertEqual((machine.link, machine.session), (link_after, session_after))


def steps_to(*steps: str) -> ClientState:
    """A state (reconnecting) after ``steps``: "connect", "lost", "login" (typed), "again" (the
    automatic one), "quit" (SAIR sent), or a server line."""
    state = ClientState(CLOCK, reconnect=True)
    actions = {
        "connect": lambda: state.connected("127.0.0.1:5050"),
        "lost": lambda: state.connection_lost("caiu"),
        "login": lambda: state.sent(LOGIN, line="ENTRAR alice senha123"),
        "again": lambda: state.sent(LOGIN, automatic=True, line="ENTRAR alice senha123"),
        "quit": lambda: state.sent(protocol.Quit(), line="SAIR"),
    }
    for step in steps:
        if step in actions:
            actions[step]()
        else:
            state.receive(step)
    return state


SERVED = ("connect", GREETING)
IN = (*SERVED, "login", "OK ENTRAR alice")
BACK = (*IN, "lost", *SERVED, "again")


class SessionStatesTest(unittest.TestCase):
    """Where a session stands after what happened, and what it answers from that."""

    # (what happened, connection state, login state, identified, logged_in, said_goodbye)
    CASES: list[tuple[tuple[str, ...], LinkState, SessionState, bool, bool, bool]] = [
        ((), L.CLOSED, S.LOGGED_OUT, False, False, False),
        (("connect",), L.AWAITING_GREETING, S.LOGGED_OUT, False, False, False),
        (SERVED, L.IDENTIFIED, S.LOGGED_OUT, True, False, False),
        (("connect", "ERRO LIMITE Conexões demais."), L.TURNED_AWAY, S.LOGGED_OUT, False, False, False),
        (("connect", "SSH-2.0-OpenSSH_9.2"), L.NOT_BATCHAT, S.LOGGED_OUT, False, False, False),
        (("connect", "SSH-2.0-OpenSSH_9.2", "lost"), L.GIVEN_UP, S.LOGGED_OUT, False, False, False),
        (("connect", "ERRO PROTOCOLO_INVALIDO Use TLS.", "lost"), L.GIVEN_UP, S.LOGGED_OUT, False, False, False),
        ((*SERVED, "login"), L.IDENTIFIED, S.LOGGING_IN, True, False, False),
        ((*SERVED, "login", "ERRO CREDENCIAIS Não."), L.IDENTIFIED, S.LOGGED_OUT, True, False, False),
        ((*SERVED, "login", "ERRO DEVAGAR 1 0.2 Devagar."), L.IDENTIFIED, S.LOGGED_OUT, True, False, False),
        # Two ENTRAR on their way: the first refused, the second still may log in.
        ((*SERVED, "login", "login", "ERRO CREDENCIAIS Não."), L.IDENTIFIED, S.LOGGING_IN, True, False, False),
        ((*SERVED, "login", "login", "ERRO CREDENCIAIS Não.", "OK ENTRAR alice"), L.IDENTIFIED, S.LOGGED_IN,
         True, True, False),
        (IN, L.IDENTIFIED, S.LOGGED_IN, True, True, False),
        ((*IN, "login", "ERRO JA_AUTENTICADO Já entrou."), L.IDENTIFIED, S.LOGGED_IN, True, True, False),
        ((*IN, "lost"), L.CLOSED, S.AWAY, False, True, False),
        ((*IN, "lost", "connect"), L.AWAITING_GREETING, S.AWAY, False, True, False),
        (BACK, L.IDENTIFIED, S.LOGGING_IN_AGAIN, True, True, False),
        ((*BACK, "OK ENTRAR alice"), L.IDENTIFIED, S.LOGGED_IN, True, True, False),
        ((*BACK, "ERRO LIMITE Cheio."), L.IDENTIFIED, S.AWAY, True, True, False),
        ((*BACK, "ERRO CREDENCIAIS Não."), L.IDENTIFIED, S.LOGGED_OUT, True, False, False),
        ((*IN, "quit", "OK SAIR"), L.IDENTIFIED, S.SAID_GOODBYE, True, False, True),
        ((*SERVED, "quit", "OK SAIR"), L.IDENTIFIED, S.SAID_GOODBYE, True, False, True),
        ((*IN, "ERRO SESSAO_SUBSTITUIDA Outro lugar."), L.IDENTIFIED, S.REPLACED, True, False, False),
        ((*IN, "ERRO SESSAO_SUBSTITUIDA Outro lugar.", "lost"), L.CLOSED, S.REPLACED, False, False, False),
    ]

    def test_states_and_what_they_answer(self) -> None:
        for steps, link, session, identified, is_logged_in, goodbye in self.CASES:
            with self.subTest(steps=steps):
                state = steps_to(*steps)
                self.assertEqual((state.link_state, state.session_state), (link, session))
                self.assertEqual((state.identified, state.logged_in, state.said_goodbye),
                                 (identified, is_logged_in, goodbye))

    def test_a_move_no_table_has_is_shown_as_a_bug_and_changes_nothing(self) -> None:
        """A line with no connection, a second connection without the end of the first: the
        client's own mistakes, said as such; the session goes on as it was."""
        state = ClientState(CLOCK)
        (bug,) = feed(state, "OK ENTRAR alice")
        self.assertEqual(bug, "[15:00] Defeito do cliente: LINE não era esperado no estado CLOSED; foi ignorado.")
        self.assertEqual((state.link_state, state.own_name), (L.CLOSED, None))
        state.connected("127.0.0.1:5050")
        state.connected("127.0.0.1:5050")
        self.assertEqual(feed(state, GREETING), [
            "[15:00] Defeito do cliente: CONNECT não era esperado no estado AWAITING_GREETING; foi ignorado.",
            "[15:00] Conectado a 127.0.0.1:5050. Bem-vindo ao BatChat!",
        ])
        self.assertEqual(feed(state, "INFO oi"), ["[15:00] oi"], "said once")

    def test_only_the_reply_being_given_is_held_for_a_login(self) -> None:
        """A login's lines come right before its OK ENTRAR, after every earlier command's
        answer: a HISTORICO before the answer to an earlier TODOS is no part of it."""
        state = logged_in()
        state.sent(protocol.Broadcast("oi"))
        state.sent(LOGIN)
        self.assertEqual(feed(state, f"HISTORICO carol {WHEN} antes"), ["[histórico] [09:02] carol: antes"])
        feed(state, "OK TODOS")
        self.assertEqual(feed(state, f"HISTORICO carol {WHEN} parte"), [], "now it is the login's reply")


if __name__ == "__main__":
    unittest.main()

"""From what the person types to what is sent (:mod:`batchat.client.typed`): pure, table-driven,
one ``subTest`` per row."""

from __future__ import annotations

import unittest
from unittest import mock

import protocol
from batchat import parsing
from batchat.client import typed
from batchat.client.typed import AskPassword, Converse, Refuse, Send, ShowHelp, ShowPrivates
from tests.clocks import is_forbidden

# Who is typing: (a person at a terminal?, logged in?, the conversation's partner)
OUT = (True, False, None)  # at a terminal, not logged in yet
PIPE = (False, False, None)  # a script, not logged in yet: no one to ask a password
IN = (True, True, None)  # logged in
WITH_BOB = (True, True, "bob")  # logged in, in /conversa bob
NOT_IN = Refuse(typed.NOT_LOGGED_IN)


def interpret(line: str, who: tuple[bool, bool, str | None]) -> typed.Typed | None:
    can_prompt, logged_in, partner = who
    return typed.interpret(line, can_prompt, logged_in=logged_in, partner=partner)


def to_all(text: str) -> Send:
    return Send(f"TODOS {text}", protocol.Broadcast(text))


def to_bob(text: str) -> Send:
    return Send(f"CHAT bob {text}", protocol.PrivateMessage("bob", text))


class InterpretTest(unittest.TestCase):
    LOGIN = protocol.Login("alice", "senha123")
    # (typed line, who types it, what the client does)
    LINES = [
        ("", OUT, None),
        ("   ", IN, None),
        ("?", OUT, ShowHelp()),
        ("ajuda", PIPE, ShowHelp()),
        ("/ajuda", IN, ShowHelp()),
        ("/HELP", IN, ShowHelp()),
        ("/?", OUT, ShowHelp()),
        ("ENTRAR alice", OUT, AskPassword("ENTRAR", "alice")),
        ("NOVO  Alice ", OUT, AskPassword("NOVO", "Alice")),
        ("/novo Alice", OUT, AskPassword("NOVO", "Alice")),
        ("/Entrar alice", OUT, AskPassword("ENTRAR", "alice")),
        ("ENTRAR alice senha123", OUT, Send("ENTRAR alice senha123", LOGIN)),
        ("/entrar alice senha123", PIPE, Send("ENTRAR alice senha123", LOGIN)),
        ("ENTRAR alice", PIPE, Refuse("Erro: Uso: ENTRAR <usuário> <senha>")),  # no one to ask
        ("ENTRAR a/b", OUT, Refuse("Erro: Nome inválido: use de 1 a 20 letras, dígitos, '_', '-' ou '.'.")),
        ("SAIR", IN, Send("SAIR", protocol.Quit())),
        ("sair ", IN, Send("sair", protocol.Quit())),
        ("SAIR\r", IN, Send("SAIR", protocol.Quit())),  # CRLF input
        ("sair\t", IN, Send("sair", protocol.Quit())),
        ("/sair", IN, Send("SAIR", protocol.Quit())),
        ("/quit", OUT, Send("SAIR", protocol.Quit())),
        ("Lista", IN, Send("Lista", protocol.ListUsers())),  # a command word alone, any case
        ("/lista", IN, Send("LISTA", protocol.ListUsers())),
        ("/lista todos", IN, Send("LISTA todos", protocol.ListUsers(everyone=True))),
        ("LISTA TODOS", IN, Send("LISTA TODOS", protocol.ListUsers(everyone=True))),
        ("/ping", OUT, Send("PING", protocol.Ping())),
        ("SAIR agora", IN, Refuse("Erro: Uso: SAIR")),
        ("CHAT bob oi ", IN, Send("CHAT bob oi ", protocol.PrivateMessage("bob", "oi "))),
        # Issue 19 item 10: the message is everything after the ONE separating space (or
        # tab), its leading spaces kept; tabs in it become spaces to the next multiple of 4.
        ("CHAT bob  oi ", IN, Send("CHAT bob  oi ", protocol.PrivateMessage("bob", " oi "))),
        ("TODOS     return x", IN, to_all("    return x")),
        ("/todos     return x", IN, to_all("    return x")),
        ("/chat bob     return x", IN, Send("CHAT bob     return x", protocol.PrivateMessage("bob", "    return x"))),
        ("TODOS\t\treturn x", IN, to_all("    return x")),
        ("TODOS a\tb", IN, to_all("a   b")),
        ("TODOS  ", IN, Refuse("Erro: Uso: TODOS <mensagem>")),  # only spaces: no message
        # An indented line is text, never a command: pasted code keeps its shape.
        ("    return x", IN, to_all("    return x")),
        ("\treturn x", IN, to_all("    return x")),
        ("\t\tif x:\tpass", IN, to_all("        if x:   pass")),
        ("  x = 1", WITH_BOB, to_bob("  x = 1")),
        (" sair ", IN, to_all(" sair ")),
        ("\t/lista", IN, to_all("    /lista")),
        ("    return x", OUT, NOT_IN),
        # ... unless it starts like a password command: the rest may be a password.
        ("  NOVO  Alice ", OUT, Refuse(typed.INDENTED_PASSWORD_COMMAND.format(command="/novo"))),
        ("\t/entrar bob s3nh4", IN, Refuse(typed.INDENTED_PASSWORD_COMMAND.format(command="/entrar"))),
        ("  \\entrar bob s3nh4", IN, Refuse(typed.INDENTED_PASSWORD_COMMAND.format(command="/entrar"))),
        ("CHAT\tbob\u00a0oi", IN, Send("CHAT bob oi", protocol.PrivateMessage("bob", "oi"))),
        ("/chat bob oi", IN, Send("CHAT bob oi", protocol.PrivateMessage("bob", "oi"))),
        ("/msg bob oi", IN, Send("CHAT bob oi", protocol.PrivateMessage("bob", "oi"))),
        ("/MSG\tbob oi, tudo?", IN, Send("CHAT bob oi, tudo?", protocol.PrivateMessage("bob", "oi, tudo?"))),
        ("TODOS\u00a0oi", IN, to_all("oi")),
        ("TODOS oi", IN, to_all("oi")),  # capitals: the original syntax still works
        ("/todos oi", IN, to_all("oi")),
        ("TODOS " + "x" * 2041, IN, to_all("x" * 2041)),
        ("CHAT bob", IN, Refuse("Erro: Uso: CHAT <usuário> <mensagem>")),
        ("AJUDA agora", IN, Refuse("Erro: Uso: AJUDA")),
        # Plain text is a message: to everyone once logged in (the four sentences).
        ("tudo ótimo e vc?", IN, to_all("tudo ótimo e vc?")),
        ("todos prontos para a prova?", IN, to_all("todos prontos para a prova?")),
        ("entrar na sala", IN, to_all("entrar na sala")),
        ("chat é legal", IN, to_all("chat é legal")),
        ("  oi gente  ", IN, to_all("  oi gente  ")),  # indented: sent as typed
        ("lista todos", IN, to_all("lista todos")),  # not a command word alone, not capitals
        ("Todos aqui?", IN, to_all("Todos aqui?")),
        ("OI GENTE", IN, to_all("OI GENTE")),
        ("/todos NOVA AULA AMANHÃ", IN, to_all("NOVA AULA AMANHÃ")),  # capitals like NOVO, said so
        ("//lista", IN, to_all("/lista")),  # "//": text that starts with "/"
        ("?? alguém", IN, to_all("?? alguém")),
        # ... and before login it has nowhere to go: a hint naming /novo and /entrar.
        ("tudo ótimo e vc?", OUT, NOT_IN),
        ("oi", PIPE, NOT_IN),
        ("entrar alice senha123", OUT, NOT_IN),
        ("/conversa bob", OUT, NOT_IN),
        # /conversa: text goes privately to the partner; commands still work.
        ("/conversa bob", IN, Converse("bob")),
        ("/CONVERSA  Bob ", IN, Converse("Bob")),
        ("/query bob", IN, Converse("bob")),
        ("/conversa", WITH_BOB, Converse(None)),
        ("/conversa", IN, Converse(None)),
        ("tudo ótimo e vc?", WITH_BOB, to_bob("tudo ótimo e vc?")),
        ("todos prontos?", WITH_BOB, to_bob("todos prontos?")),
        ("/todos oi, gente", WITH_BOB, to_all("oi, gente")),
        ("TODOS oi", WITH_BOB, to_all("oi")),
        ("/chat carol oi", WITH_BOB, Send("CHAT carol oi", protocol.PrivateMessage("carol", "oi"))),
        ("lista", WITH_BOB, Send("lista", protocol.ListUsers())),
        ("/conversa bob carol", IN, Refuse(f"Erro: {typed.CONVERSE_USAGE}")),
        ("/conversa a/b", IN, Refuse("Erro: Nome inválido: use de 1 a 20 letras, dígitos, '_', '-' ou '.'.")),
        # IRC habits get the BatChat way.
        ("/join #geral", IN, Refuse(
            "Aqui se vai para uma sala com /sala #nome (e /sala sozinho volta a #geral); /salas lista as salas."
        )),
        ("/part #g1", IN, Refuse("Para sair de uma sala: /sala sair #nome (/sair sai do chat).")),
        ("/nick bobby", IN, Refuse(typed.IRC_HINTS["NICK"])),
        # A password with spaces: said so, the password never repeated.
        ("NOVO ana minha senha secreta", OUT, Refuse(
            "Erro: A senha não pode ter espaços. Uso: NOVO <usuário> <senha>"
        )),
        ("/entrar ana minha senha", PIPE, Refuse(
            "Erro: A senha não pode ter espaços. Uso: /entrar <usuário> <senha>"
        )),
        # /novo takes one name: the password is asked hidden (issue 19 item 8); in capitals,
        # NOVO <usuário> <senha> is the protocol's own syntax, for scripts.
        ("/novo Eduarda Ferreira", OUT, Refuse(typed.NEW_ACCOUNT_ONE_NAME)),
        ("/novo Eduarda Ferreira", PIPE, Refuse(typed.NEW_ACCOUNT_ONE_NAME_PIPED)),
        ("\\novo Eduarda Ferreira", OUT, Refuse(typed.NEW_ACCOUNT_ONE_NAME)),
        ("/NOVO ana minha senha secreta", OUT, Refuse(typed.NEW_ACCOUNT_ONE_NAME)),
        ("/novo Eduarda", OUT, AskPassword("NOVO", "Eduarda")),
        ("NOVO Eduarda Ferreira", OUT, Send("NOVO Eduarda Ferreira", protocol.Register("Eduarda", "Ferreira"))),
        # A usage error is written the way the command was typed.
        ("/chat bob", IN, Refuse("Erro: Uso: /chat <usuário> <mensagem>")),
        ("CHAT bob", IN, Refuse("Erro: Uso: CHAT <usuário> <mensagem>")),
        ("/lista x y", IN, Refuse("Erro: Uso: /lista [todos]")),
    ]
    # (typed line, who, text the refusal holds): typos get the closest command
    HINTS = [
        ("/lsta", IN, "Comando desconhecido: /lsta. Você quis dizer /lista?"),
        ("/saır", IN, "Você quis dizer /sair?"),  # a lookalike is not SAIR: nothing is sent
        ("/ſair", IN, "Você quis dizer /sair?"),
        ("/tchau", IN, "Você quis dizer /sair?"),
        ("/convesa bob", IN, "Você quis dizer /conversa?"),
        ("/privada", IN, "Você quis dizer /privadas?"),
        ("/login bob senha123", OUT, "Você quis dizer /entrar?"),
        ("/xyzzy", IN, "/ajuda mostra os comandos"),
        ("/", IN, "/ajuda mostra todos"),
        ("/\x1b[2J", IN, "Comando desconhecido: /\\x1b[2J."),
        # Capitals close to NOVO or ENTRAR: a mistyped command, never sent as text.
        ("ENTRA alice senha123", IN, "Você quis dizer /entrar?"),
        ("ENTRARbob senha123", OUT, "Você quis dizer /entrar?"),
        ("LOGIN bob senha123", IN, "Você quis dizer /entrar?"),
    ]

    def test_interpret(self) -> None:
        for line, who, expected in self.LINES:
            with self.subTest(line=line, who=who):
                self.assertEqual(interpret(line, who), expected)

    # Issue 19 item 11: (typed line, logged in?, who wrote privately last, what the client does)
    REPLIES = [
        ("/r oi, bob", True, "bob", to_bob("oi, bob")),
        ("/R oi", True, "bob", to_bob("oi")),
        ("\\r oi", True, "bob", to_bob("oi")),  # a backslash before a command is its slash
        ("/r   recuado\tx", True, "bob", to_bob("  recuado   x")),  # after the one space, as typed; tabs as spaces
        ("/r oi", True, None, Refuse(typed.NO_ONE_TO_REPLY)),
        ("/r", True, "bob", Refuse(f"Erro: {typed.REPLY_USAGE.format(name='bob')}")),
        ("/r   ", True, "bob", Refuse(f"Erro: {typed.REPLY_USAGE.format(name='bob')}")),
        ("/r oi", False, "bob", NOT_IN),
        ("r oi", True, "bob", to_all("r oi")),  # without the slash: text, as always
        ("/privadas", True, "bob", ShowPrivates()),
        ("/PRIVADAS", False, None, ShowPrivates()),
        ("privadas", True, None, to_all("privadas")),  # a client command needs its slash
    ]

    def test_reply_and_privates(self) -> None:
        for line, logged_in, replying_to, expected in self.REPLIES:
            with self.subTest(line=line, logged_in=logged_in, replying_to=replying_to):
                self.assertEqual(typed.interpret(line, True, logged_in=logged_in, replying_to=replying_to),
                                 expected)

    def test_typos_get_hints_and_are_not_sent(self) -> None:
        for line, who, hint in self.HINTS:
            with self.subTest(line=line):
                result = interpret(line, who)
                assert isinstance(result, Refuse), result
                self.assertIn(hint, result.text)
                self.assertFalse(any(map(is_forbidden, result.text)), result.text)
                self.assertNotIn("senha123", result.text, "the rest of the line is never repeated")

    def test_a_long_line_is_refused_in_characters(self) -> None:
        # (typed line, who, its length in characters, how many of them fit)
        cases = [
            ("TODOS " + "x" * 2042, IN, 2048, 2047),  # the limit: 2047 bytes before the newline
            ("x" * 3000, IN, 3000, 2041),  # "TODOS " goes out before the text
            ("ã" * 1100, IN, 1100, 1020),  # two bytes each
            ("/msg bob " + "x" * 2100, IN, 2109, 2047),  # "/msg" and "CHAT": as many characters
            ("/todos " + "x" * 2100, IN, 2107, 2048),
            ("é" * 1100, WITH_BOB, 1100, 1019),  # "CHAT bob " goes out before the text
        ]
        for line, who, length, fit in cases:
            with self.subTest(line=line[:12], who=who):
                self.assertEqual(interpret(line, who), Refuse(
                    f"Erro: linha longa demais: tem {length} caracteres e cabem {fit}; "
                    "não foi enviada (↑ a traz de volta)."
                ))
                self.assertIsInstance(interpret(line[:fit], who), Send, "what fits goes out")
                self.assertIsInstance(interpret(line[:fit + 1], who), Refuse)


    def test_a_usage_error_is_told_by_its_field_not_its_words(self) -> None:
        """The client writes a usage error from the command table, by the error's ``usage``
        field; a text that merely reads "Uso: CHAT ..." is shown as it is."""
        cases = [
            (protocol.ProtocolError(protocol.ErrorCode.ARGUMENTS, "faltou algo", usage="CHAT"),
             "Erro: Uso: /chat <usuário> <mensagem>"),
            (protocol.ProtocolError(protocol.ErrorCode.ARGUMENTS, "Uso: CHAT <usuário> <mensagem>"),
             "Erro: Uso: CHAT <usuário> <mensagem>"),
        ]
        for error, expected in cases:
            with self.subTest(error=error), mock.patch.object(parsing, "parse_command", side_effect=error):
                self.assertEqual(interpret("/chat bob", IN), Refuse(expected))


class LookalikeTest(unittest.TestCase):
    """A line in capitals that looks like a password command is never sent as text (issue 17)."""

    # (typed line, the command it looks like): most with a password after the first word
    REFUSED = [
        ("NOV bob s3nh4-x", "novo"),  # a prefix of three letters
        ("ENT bob s3nh4-x", "entrar"),
        ("\u200bENTRAR bob s3nh4-x", "entrar"),  # invisible characters in front
        ("\ufeffENTRAR bob s3nh4-x", "entrar"),
        ("\u200b ENTRAR bob s3nh4-x", "entrar"),
        ("EN\u00adTRAR bob s3nh4-x", "entrar"),  # a soft hyphen inside
        ("\u0415NTRAR bob s3nh4-x", "entrar"),  # Cyrillic Е
        ("\u0395\u039dTRAR bob s3nh4-x", "entrar"),  # Greek Ε and Ν
        ("\u039d\u039fV\u039f bob s3nh4-x", "novo"),  # Greek Ν and Ο
        ("Н\u041eVО bob s3nh4-x", "novo"),  # Cyrillic Н (an H) and О: one edit from NOVO
        ("ÉNTRAR bob s3nh4-x", "entrar"),
        ("E\u0301NTRAR bob s3nh4-x", "entrar"),  # the accent as a combining mark
        ("ＥＮＴＲＡＲ bob s3nh4-x", "entrar"),  # fullwidth
        ("ＮＯＶＯ bob s3nh4-x", "novo"),
        ("ENTAR bob s3nh4-x", "entrar"),  # one edit: a letter left out,
        ("ENTRAAR bob s3nh4-x", "entrar"),  # one too many,
        ("ENTRAS bob s3nh4-x", "entrar"),  # one changed,
        ("ENTRRA bob s3nh4-x", "entrar"),  # two swapped
        ("NVOO bob s3nh4-x", "novo"),
        ("NOVA bob s3nh4-x", "novo"),
        ("ENTRARbob s3nh4-x", "entrar"),  # the name glued on
        ("NOVObob s3nh4-x", "novo"),
        ("LOGIN bob s3nh4-x", "entrar"),  # another chat's word
        ("REGISTER bob s3nh4-x", "novo"),
        ("//ENTRAR bob s3nh4-x", "entrar"),  # "//" sends text that starts with "/": not this
        ("//\u200bNOVO bob s3nh4-x", "novo"),
        ("\\\\ENTRAR bob s3nh4-x", "entrar"),
        ("\u2800ENTRAR bob s3nh4-x", "entrar"),  # blank symbols that are not Default_Ignorable
        ("\U0001d159NOVO bob s3nh4-x", "novo"),
        ("EN\u2800TRAR bob s3nh4-x", "entrar"),
        ("N0VO bob s3nh4-x", "novo"),  # digits drawn like capitals
        ("N0V0 bob s3nh4-x", "novo"),
        ("3NTR4R bob s3nh4-x", "entrar"),
        ("ＮＯ０ bob s3nh4-x", "novo"),
        ("ᴇɴᴛʀᴀʀ bob s3nh4-x", "entrar"),  # small capitals
        ("ɴᴏᴠᴏ bob s3nh4-x", "novo"),
        ("ᴇɴᴛʀᴀʀbob s3nh4-x", "entrar"),
        ("NOVA AULA AMANHÃ", "novo"),  # a sentence in capitals too: /todos sends it
        ("ENTRE NÓS", "entrar"),
    ]
    # Sentences that go out as text: the first minute's four, and others like them.
    TEXT = [
        "todos prontos para a prova?", "tudo ótimo e vc?", "entrar na sala", "chat é legal",
        "Novo aluno chegou", "Entrar agora?", "Nova aula amanhã", "novo por aqui",
        "OI GENTE", "NÃO SEI", "ENTÃO VAMOS", "NO PROBLEM", "\\o/ passei!", "\\frac{1}{2} é meio",
        "100 pessoas vieram", "2024 foi bom", "NO1 da turma", "A1 ótimo", "TOP 10 filmes",
        "ᴏɪ ɢᴇɴᴛᴇ", "\u2800oi gente",
    ]

    def test_lookalikes_in_capitals_are_refused_and_never_kept(self) -> None:
        for line, meant in self.REFUSED:
            for who in (IN, OUT, WITH_BOB):
                with self.subTest(line=line, who=who):
                    result = interpret(line, who)
                    assert isinstance(result, Refuse), result
                    self.assertIn(f"Você quis dizer /{meant}?", result.text)
                    self.assertNotIn("s3nh4", result.text)
            with self.subTest(line=line, history=True):  # whole only if nothing may be a password
                entry = typed.history_entry(line)
                self.assertEqual(entry, None if "s3nh4" in line or "AMANHÃ" in line else line)

    def test_a_backslash_is_read_as_the_slash(self) -> None:
        login = protocol.Login("bob", "s3nh4-x")
        cases = [
            ("\\entrar bob s3nh4-x", IN, Send("ENTRAR bob s3nh4-x", login), "/entrar bob"),
            ("\\ENTRAR bob s3nh4-x", OUT, Send("ENTRAR bob s3nh4-x", login), "/ENTRAR bob"),
            ("\\entrar bob", OUT, AskPassword("ENTRAR", "bob"), "/entrar bob"),
            ("\\novo bob", OUT, AskPassword("NOVO", "bob"), "/novo bob"),
            ("\\entar bob s3nh4-x", IN, Refuse(
                "Comando desconhecido: /entar. Você quis dizer /entrar?"), None),
            ("\\sair", IN, Send("SAIR", protocol.Quit()), "/sair"),
            ("\\o/ passei!", IN, to_all("\\o/ passei!"), "\\o/ passei!"),  # no command: text
        ]
        for line, who, expected, kept in cases:
            with self.subTest(line=line):
                self.assertEqual(interpret(line, who), expected)
                self.assertEqual(typed.history_entry(line), kept)

    def test_sentences_still_go_out_as_text(self) -> None:
        for line in self.TEXT:
            for who, expected in ((IN, to_all(line)), (WITH_BOB, to_bob(line))):
                with self.subTest(line=line, who=who):
                    self.assertEqual(interpret(line, who), expected)

    def test_the_hint_shows_invisible_characters_escaped(self) -> None:
        cases = [
            ("\u200bENTRAR bob s3nh4-x", "\\u200bENTRAR", "entrar"),
            ("\ufeff\u200bNOVO bob s3nh4-x", "\\ufeff\\u200bNOVO", "novo"),
            ("\u2800ENTRAR bob s3nh4-x", "\\u2800ENTRAR", "entrar"),
            ("\u200b ENTRAR bob s3nh4-x", "\\u200b ENTRAR", "entrar"),
            ("EN\u200bTRAR bob s3nh4-x", "EN\\u200bTRAR", "entrar"),
            ("//\u200bNOVO bob s3nh4-x", "/\\u200bNOVO", "novo"),
            ("ENT bob s3nh4-x", "ENT", "entrar"),
        ]
        for line, shown, meant in cases:
            with self.subTest(line=line):
                self.assertEqual(interpret(line, IN), Refuse(
                    f"Comando desconhecido: {shown}. Você quis dizer /{meant}?"))

    def test_a_double_slash_still_sends_other_text(self) -> None:
        for line in ("//entrar na sala", "//o/ passei!", "//ENTRAR", "///novo é o comando"):
            with self.subTest(line=line):
                self.assertEqual(interpret(line, IN), to_all(line[1:]))

    def test_skeleton(self) -> None:
        words = [
            "entrar", "ENTRAR", "\u200bENTRAR", "\u0415NTRAR", "ÉNTRAR", "ＥＮＴＲＡＲ", "EN\u00adTRÁR",
            "\u2800ENTRAR", "ᴇɴᴛʀᴀʀ",
        ]
        for word in words:
            with self.subTest(word=word):
                self.assertEqual(typed.skeleton(word), "entrar")
        cyrillic, greek = "АВСЕНІЈКМОРЅТХУ", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
        self.assertEqual(typed.skeleton(cyrillic + cyrillic.lower()), "abcehijkmopstxy" * 2)
        self.assertEqual(typed.skeleton(greek), "abezhikmnoptyx")


class HistoryEntryTest(unittest.TestCase):
    # (typed line, what history keeps)
    LINES = [
        ("ENTRAR alice senha123", "ENTRAR alice"),
        ("ENTRAR  alice   senha123  ", "ENTRAR alice"),
        ("NOVO bob s3nh4-forte", "NOVO bob"),
        ("NOVO\tbob\tsenha123", "NOVO bob"),
        ("ENTRAR alice", "ENTRAR alice"),
        ("    return x", "    return x"),  # indented text: kept with its shape
        ("\tif x:", "\tif x:"),
        ("  /entrar bob s3nh4", None),  # refused, and the rest may be a password
        ("  ENTRAR bob s3nh4", None),
        ("ENTRAR", "ENTRAR"),
        ("/entrar alice senha123", "/entrar alice"),
        ("/NOVO ana minha senha secreta", "/NOVO ana"),
        ("/entrar", "/entrar"),
        ("entrar", "entrar"),
        ("\\novo bob senha123", "/novo bob"),
        # A line that starts close to NOVO or ENTRAR is not kept: it may be a mistyped ENTRAR.
        ("ENTAR alice senha123", None),
        ("ENTRARbob senha123", None),
        ("LOGIN bob senha123", None),
        ("/login bob senha123", None),
        ("ＥＮＴＲＡＲ bob senha123", None),  # what the eye reads as ENTRAR
        ("/ＥＮＴＲＡＲ bob senha123", None),
        ("NOV bob senha123", None),
        ("entra aí, pessoal", None),
        ("//ENTRAR bob senha123", None),
        ("\u2800ENTRAR bob senha123", None),
        ("N0VO bob senha123", None),
        ("ᴇɴᴛʀᴀʀ bob senha123", None),
        # Text in lower case that starts like them: it went out, but may hold a password.
        ("entrar  alice   senha123  ", None),
        ("novo\tbob\tsenha123", None),
        ("entrar\talice senha123\r", None),
        # Unless no word after the first is as long as a password: then it is kept whole.
        ("entrar na sala", "entrar na sala"),
        ("ENTRE NÓS", "ENTRE NÓS"),
        ("entra aí", "entra aí"),
        ("entra", "entra"),
        # Everything else is kept, sent or refused: nothing typed is lost.
        ("oi gente", "oi gente"),
        ("tudo ótimo e vc?", "tudo ótimo e vc?"),
        ("todos prontos para a prova?", "todos prontos para a prova?"),
        ("chat é legal", "chat é legal"),
        ("/conversa bob", "/conversa bob"),
        ("/lsta", "/lsta"),
        ("?", "?"),
        ("TODOS ENTRAR alice senha123", "TODOS ENTRAR alice senha123"),
        ("CHAT bob oi", "CHAT bob oi"),
        ("LISTA", "LISTA"),
    ]

    def test_history_entry(self) -> None:
        for line, expected in self.LINES:
            with self.subTest(line=line):
                self.assertEqual(typed.history_entry(line), expected)


class CompletionsTest(unittest.TestCase):
    ONLINE = ["bob", "Bruna", "carol", "ana.b", "Tomás"]
    # (line, where the word starts, the word, candidates)
    CASES = [
        # The first word as the help shows commands: with "/", unless begun in capitals.
        ("", 0, "", [f"/{word} " for word in typed.SLASH_WORDS]),
        ("ch", 0, "ch", ["/chat "]),
        ("CH", 0, "CH", ["CHAT "]),
        ("  en", 2, "en", ["/entrar "]),
        ("T", 0, "T", ["TODOS "]),
        ("x", 0, "x", []),
        ("/", 0, "/", [f"/{word} " for word in typed.SLASH_WORDS]),
        ("/li", 0, "/li", ["/lista "]),  # not /liberar: a teacher's command
        ("/CO", 0, "/CO", ["/conversa "]),
        ("/pr", 0, "/pr", ["/privadas "]),
        ("/x", 0, "/x", []),
        ("CHAT b", 5, "b", ["Bruna ", "bob "]),
        ("CHAT BO", 5, "BO", ["bob "]),
        ("/conversa c", 10, "c", ["carol "]),
        ("/msg ana", 5, "ana", ["ana.b "]),
        ("TODOS oi ca", 9, "ca", ["carol "]),
        ("TODOS oi ana.", 9, "ana.", ["ana.b "]),
        ("CHAT z", 5, "z", []),
        # After LISTA, TODOS: not the names of who is online.
        ("LISTA ", 6, "", ["TODOS "]),
        ("LISTA T", 6, "T", ["TODOS "]),
        ("/lista t", 7, "t", ["TODOS "]),
        ("LISTA b", 6, "b", []),
        ("LISTA TODOS T", 12, "T", ["Tomás "]),
    ]

    def test_completions(self) -> None:
        for line, begin, text, expected in self.CASES:
            with self.subTest(line=line):
                self.assertEqual(typed.completions(line, begin, text, self.ONLINE), expected)


if __name__ == "__main__":
    unittest.main()

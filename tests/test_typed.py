"""From what the person types to what is sent (:mod:`batchat.typed`): pure, table-driven,
one ``subTest`` per row."""

from __future__ import annotations

import unittest

import protocol
from batchat import typed
from batchat.typed import AskPassword, Refuse, Send, ShowHelp
from tests.clocks import is_forbidden


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
                self.assertEqual(typed.interpret(line, can_prompt), expected)

    def test_typos_get_hints_and_are_not_sent(self) -> None:
        for line, hint in self.HINTS:
            with self.subTest(line=line):
                result = typed.interpret(line, True)
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
                self.assertEqual(typed.history_entry(line), expected)


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
                self.assertEqual(typed.completions(line, begin, text, self.ONLINE), expected)


if __name__ == "__main__":
    unittest.main()

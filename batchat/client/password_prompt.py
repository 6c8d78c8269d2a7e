"""The password prompts of the terminal client: hidden, twice for a new one, checked.

Owns :func:`ask_line`, which calls :func:`ask_password` (``NOVO``, ``ENTRAR``) or :func:`ask_account_line`
(``/senha``: the current password, then the new one twice; ``/excluir``: what
is lost, a confirmation, then the password); called by the keyboard thread
(:mod:`batchat.client.threads`) only. A password never reaches the screen,
the history or a log: it is returned (in the line to send), or ``None`` with
a sentence said.
"""

from __future__ import annotations

from collections.abc import Callable

import protocol
from batchat.client import terminal
from batchat.client.render import Style
from batchat.client.typed import ACCOUNT_COMMANDS

Say = Callable[..., None]
CONFIRMATION = "sim"  # or the account's name: what /excluir wants typed before the password


def ask_line(
    say: Say, word: str, name: str, own_name: str, flush: Callable[[], None] = lambda: None
) -> str | None:
    """The line to send for ``AskPassword(word, name)`` (see :mod:`batchat.client.typed`), its
    passwords asked hidden: ``NOVO``/``ENTRAR <name> <senha>``, or ``/senha`` and ``/excluir``
    for the account ``own_name``; ``None`` (and why) if cancelled or refused. ``flush``
    prints what was said, before a question is asked below it."""
    if word in ACCOUNT_COMMANDS:
        return ask_account_line(say, word, own_name, flush)
    password = ask_password(say, word, name)
    return None if password is None else f"{word} {name} {password}"


def ask_password(say: Say, word: str, name: str) -> str | None:
    """The password, typed twice for a new account; ``None`` (and why) if there is none.
    Ctrl-C (or Ctrl-D) cancels the prompt, not the client."""
    first_prompt = f"Escolha uma senha para {name}: " if word == "NOVO" else f"Senha de {name}: "
    if word == "NOVO":
        return _new_password(say, first_prompt, "As senhas não conferem; a conta não foi criada.")
    return _checked(say, terminal.read_hidden(first_prompt))


def ask_account_line(say: Say, word: str, own_name: str, flush: Callable[[], None] = lambda: None) -> str | None:
    """The line ``/senha`` (``SENHA <atual> <nova>``) or ``/excluir`` (``EXCLUIR <senha>``)
    sends, every password asked hidden; ``None`` (and why) if cancelled or refused."""
    if word == "EXCLUIR":
        return _deletion_line(say, own_name, flush)
    current = _checked(say, terminal.read_hidden("Senha atual: "))
    if current is None:
        return None
    new = _new_password(say, "Nova senha: ", "As senhas novas não conferem; a senha não foi trocada.",
                        again="Repita a nova senha: ")
    if new is None:
        return None
    if new == current:
        say("A nova senha é igual à atual; nada mudou.", Style.ERROR)
        return None
    return f"SENHA {current} {new}"


def _deletion_line(say: Say, own_name: str, flush: Callable[[], None]) -> str | None:
    """Say what deleting the account loses, have it confirmed, then ask the password."""
    if not own_name:  # the connection dropped: which account is not known until it is back
        say("Sem conexão com o servidor agora; tente /excluir de novo quando voltar ao chat.", Style.ERROR)
        return None
    say(f"Excluir a conta {own_name} apaga a conta e as mensagens guardadas para ela, e não tem volta: "
        f"o nome {own_name} fica livre, e outra pessoa pode criar uma conta com ele.", Style.ERROR)
    flush()
    answer = terminal.read_hidden(f"Para confirmar, digite {own_name} ou {CONFIRMATION}: ", echo=True)
    if answer is None or answer.strip().casefold() not in (CONFIRMATION, own_name.casefold()):
        say("A conta não foi excluída.", Style.NOTICE)
        return None
    password = _checked(say, terminal.read_hidden(f"Senha de {own_name}: "))
    return None if password is None else f"EXCLUIR {password}"


def _new_password(say: Say, prompt: str, mismatch: str, *, again: str = "Repita a senha: ") -> str | None:
    """A new password, typed twice, the same both times."""
    password = terminal.read_hidden(prompt)
    if password is not None:
        repeated = terminal.read_hidden(again)
        if repeated is not None and repeated != password:
            say(mismatch, Style.ERROR)
            return None
        password = None if repeated is None else password
    return _checked(say, password)


def _checked(say: Say, password: str | None) -> str | None:
    """``password`` if it is one (the protocol's rule); ``None`` (and why) if cancelled or not."""
    if password is None:
        say("Cancelado.", Style.NOTICE)
        return None
    try:
        return protocol.validate_password(password)
    except protocol.ProtocolError as error:
        say(f"Erro: {error.text}", Style.ERROR)
        return None

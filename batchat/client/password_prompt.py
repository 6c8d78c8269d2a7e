"""The password prompt of the terminal client: hidden, twice for a new account, checked.

Owns :func:`ask_password`; called by the keyboard thread
(:mod:`batchat.client.threads`) only. The password never reaches the screen,
the history or a log: it is returned, or ``None`` with a sentence said.
"""

from __future__ import annotations

from collections.abc import Callable

import protocol
from batchat.client import terminal
from batchat.client.render import Style


def ask_password(say: Callable[..., None], word: str, name: str) -> str | None:
    """The password, typed twice for a new account; ``None`` (and why) if there is none.
    Ctrl-C (or Ctrl-D) cancels the prompt, not the client."""
    first_prompt = f"Escolha uma senha para {name}: " if word == "NOVO" else f"Senha de {name}: "
    password = terminal.read_hidden(first_prompt)
    if password is not None and word == "NOVO":
        again = terminal.read_hidden("Repita a senha: ")
        if again is not None and again != password:
            say("As senhas não conferem; a conta não foi criada.", Style.ERROR)
            return None
        password = None if again is None else password
    if password is None:
        say("Cancelado.", Style.NOTICE)
        return None
    try:
        return protocol.validate_password(password)
    except protocol.ProtocolError as error:
        say(f"Erro: {error.text}", Style.ERROR)
        return None

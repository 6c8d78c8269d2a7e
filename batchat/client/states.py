"""The client session's states and the tables of their transitions, in the manner of h11's ``_state.py``.

Owns two small state machines that together say where one session stands:

- the connection's (:class:`LinkState`): none, waiting for the greeting, served
  (the server identified itself as BatChat), turned away before being served
  (an ``ERRO`` first line: try later), facing a peer that is no BatChat server
  for this client (any other first line, or ``PROTOCOLO_INVALIDO``), and given
  up after such a peer (this session connects no more);
- the login's (:class:`SessionState`): logged out, logging in, logged in,
  away (logged in before the connection dropped: the next one logs in again),
  logging in again, said goodbye (``OK SAIR``, or ``OK EXCLUIR``), replaced (the
  account logged in elsewhere), shut out (a teacher kicked or banned the account,
  or reset its password: the server closes, and this client must not log in again
  by itself).

Each machine moves only by its table, ``{(state, trigger): new state}``
(:data:`LINK_TRANSITIONS`, :data:`SESSION_TRANSITIONS`). A :class:`Trigger`
moves every machine whose table names it; a trigger a table names, in a state
its table has no row for, is a bug of the client, and raises
:class:`StateError` without moving either machine. What the server says is
always taken (it is the authority on what happened: a reply that comes in an
unexpected order still moves the state where it says); the rows left out are
those only a mistake of the client itself could reach (a line with no
connection, a second connection without the end of the first, connecting
again after :attr:`LinkState.GIVEN_UP`).

Pure, no I/O; called by :class:`batchat.client.state.ClientState` only,
which turns the triggers into these and the states into its answers.
"""

from __future__ import annotations

import enum
from typing import TypeVar


class LinkState(enum.Enum):
    """Where this session's connection stands."""

    CLOSED = enum.auto()  # no connection (yet, or any more)
    AWAITING_GREETING = enum.auto()  # connected; no line yet: no password may go
    IDENTIFIED = enum.auto()  # the first line was the greeting BATCHAT: the session goes on
    TURNED_AWAY = enum.auto()  # the first line was an ERRO refusal: nothing more counts; try later
    NOT_BATCHAT = enum.auto()  # the first line shows a peer this client must not talk to
    GIVEN_UP = enum.auto()  # that peer's connection ended: this session never connects again


class SessionState(enum.Enum):
    """Where this session's login stands, across connections."""

    LOGGED_OUT = enum.auto()  # nothing to log in with
    LOGGING_IN = enum.auto()  # an ENTRAR is on its way
    LOGGED_IN = enum.auto()  # OK ENTRAR on this connection
    AWAY = enum.auto()  # logged in when the connection dropped: the next one logs in again
    LOGGING_IN_AGAIN = enum.auto()  # that ENTRAR is on its way
    SAID_GOODBYE = enum.auto()  # OK SAIR: the person left
    REPLACED = enum.auto()  # ERRO SESSAO_SUBSTITUIDA: the account went on elsewhere
    SHUT_OUT = enum.auto()  # ERRO EXPULSO, BANIDO or SENHA_REDEFINIDA: no logging in again by itself


class Trigger(enum.Enum):
    """What moves the machines: what happened on the connection, or to the login."""

    CONNECT = enum.auto()  # a new connection
    GREETING = enum.auto()  # its first line is BATCHAT <versao> <texto>
    REFUSAL = enum.auto()  # its first line is an ERRO (over a limit)
    STRANGER = enum.auto()  # its first line is anything else, or PROTOCOLO_INVALIDO
    LINE = enum.auto()  # any later line
    LOSS = enum.auto()  # the connection ended
    LOGIN_SENT = enum.auto()  # an ENTRAR went out (typed, or the automatic one)
    LOGIN_OK = enum.auto()  # OK ENTRAR
    LOGIN_REFUSED = enum.auto()  # an ERRO answered the last ENTRAR on its way (DEVAGAR too: not executed)
    PASSWORD_REJECTED = enum.auto()  # ERRO CREDENCIAIS answered the automatic ENTRAR: forget it
    GOODBYE = enum.auto()  # OK SAIR, or OK EXCLUIR (the account is gone)
    TAKEN_OVER = enum.auto()  # ERRO SESSAO_SUBSTITUIDA
    SHUT_OUT = enum.auto()  # pushed ERRO EXPULSO, BANIDO or SENHA_REDEFINIDA; or the first two for the automatic ENTRAR


_L, _S, _T = LinkState, SessionState, Trigger

LINK_TRANSITIONS: dict[tuple[LinkState, Trigger], LinkState] = {
    (_L.CLOSED, _T.CONNECT): _L.AWAITING_GREETING,
    (_L.AWAITING_GREETING, _T.GREETING): _L.IDENTIFIED,
    (_L.AWAITING_GREETING, _T.REFUSAL): _L.TURNED_AWAY,
    (_L.AWAITING_GREETING, _T.STRANGER): _L.NOT_BATCHAT,
    (_L.AWAITING_GREETING, _T.LOSS): _L.CLOSED,
    (_L.IDENTIFIED, _T.LINE): _L.IDENTIFIED,
    (_L.IDENTIFIED, _T.LOSS): _L.CLOSED,
    (_L.TURNED_AWAY, _T.LINE): _L.TURNED_AWAY,  # ignored
    (_L.TURNED_AWAY, _T.LOSS): _L.CLOSED,
    (_L.NOT_BATCHAT, _T.LINE): _L.NOT_BATCHAT,  # ignored
    (_L.NOT_BATCHAT, _T.LOSS): _L.GIVEN_UP,
}

# The states a session lives in; SAID_GOODBYE, REPLACED and SHUT_OUT end it.
LIVE = (_S.LOGGED_OUT, _S.LOGGING_IN, _S.LOGGED_IN, _S.AWAY, _S.LOGGING_IN_AGAIN)

SESSION_TRANSITIONS: dict[tuple[SessionState, Trigger], SessionState] = {
    (_S.LOGGED_OUT, _T.LOGIN_SENT): _S.LOGGING_IN,
    (_S.LOGGED_OUT, _T.LOGIN_OK): _S.LOGGED_IN,  # an earlier ENTRAR's, after another was refused
    (_S.LOGGED_OUT, _T.LOGIN_REFUSED): _S.LOGGED_OUT,
    (_S.LOGGED_OUT, _T.LOSS): _S.LOGGED_OUT,
    (_S.LOGGING_IN, _T.LOGIN_SENT): _S.LOGGING_IN,
    (_S.LOGGING_IN, _T.LOGIN_OK): _S.LOGGED_IN,
    (_S.LOGGING_IN, _T.LOGIN_REFUSED): _S.LOGGED_OUT,
    (_S.LOGGING_IN, _T.LOSS): _S.LOGGED_OUT,
    (_S.LOGGED_IN, _T.LOGIN_SENT): _S.LOGGED_IN,  # the server answers JA_AUTENTICADO
    (_S.LOGGED_IN, _T.LOGIN_OK): _S.LOGGED_IN,
    (_S.LOGGED_IN, _T.LOGIN_REFUSED): _S.LOGGED_IN,
    (_S.LOGGED_IN, _T.LOSS): _S.AWAY,
    (_S.AWAY, _T.LOGIN_SENT): _S.LOGGING_IN_AGAIN,
    (_S.AWAY, _T.LOGIN_OK): _S.LOGGED_IN,  # a typed ENTRAR's, after the automatic one was refused
    (_S.AWAY, _T.LOGIN_REFUSED): _S.AWAY,
    (_S.AWAY, _T.LOSS): _S.AWAY,
    (_S.LOGGING_IN_AGAIN, _T.LOGIN_SENT): _S.LOGGING_IN_AGAIN,
    (_S.LOGGING_IN_AGAIN, _T.LOGIN_OK): _S.LOGGED_IN,
    (_S.LOGGING_IN_AGAIN, _T.LOGIN_REFUSED): _S.AWAY,  # for now (over a limit): try again later
    (_S.LOGGING_IN_AGAIN, _T.PASSWORD_REJECTED): _S.LOGGED_OUT,
    (_S.LOGGING_IN_AGAIN, _T.LOSS): _S.AWAY,
    # From any live state: the person leaves, or the account goes on elsewhere.
    **{(state, _T.GOODBYE): _S.SAID_GOODBYE for state in LIVE},
    **{(state, _T.TAKEN_OVER): _S.REPLACED for state in LIVE},
    **{(state, _T.SHUT_OUT): _S.SHUT_OUT for state in LIVE},
    (_S.SAID_GOODBYE, _T.LOSS): _S.SAID_GOODBYE,
    # Replaced or shut out: the server closes this connection; what still comes changes
    # nothing, but an OK SAIR that came first is a goodbye.
    **{(ended, trigger): ended
       for ended in (_S.REPLACED, _S.SHUT_OUT)
       for trigger in (_T.LOGIN_SENT, _T.LOGIN_OK, _T.LOGIN_REFUSED, _T.TAKEN_OVER, _T.SHUT_OUT, _T.LOSS)},
    (_S.REPLACED, _T.GOODBYE): _S.SAID_GOODBYE,
    (_S.SHUT_OUT, _T.GOODBYE): _S.SAID_GOODBYE,
}


class StateError(Exception):
    """A trigger the table has no row for in the current state: a bug of the client."""

    def __init__(self, machine: str, state: enum.Enum, trigger: Trigger) -> None:
        super().__init__(f"{trigger.name} in {machine} state {state.name}")
        self.machine, self.state, self.trigger = machine, state, trigger


class SessionMachine:
    """The two machines of one session: :attr:`link` and :attr:`session`.

    Starts with no connection and logged out. :meth:`fire` moves both by their
    tables, or neither.
    """

    def __init__(self) -> None:
        self.link = LinkState.CLOSED
        self.session = SessionState.LOGGED_OUT

    def fire(self, trigger: Trigger) -> None:
        """Move by ``trigger``; :class:`StateError` (and no move) if a table that names it
        has no row for the current state."""
        link = _next("connection", LINK_TRANSITIONS, _LINK_TRIGGERS, self.link, trigger)
        session = _next("session", SESSION_TRANSITIONS, _SESSION_TRIGGERS, self.session, trigger)
        self.link, self.session = link, session


# The triggers each table names: a machine ignores the others.
_LINK_TRIGGERS = frozenset(trigger for _, trigger in LINK_TRANSITIONS)
_SESSION_TRIGGERS = frozenset(trigger for _, trigger in SESSION_TRANSITIONS)
State = TypeVar("State", LinkState, SessionState)


def _next(
    machine: str, table: dict[tuple[State, Trigger], State], triggers: frozenset[Trigger], state: State,
    trigger: Trigger,
) -> State:
    """The state ``trigger`` moves ``state`` to by ``table``, which names ``triggers``."""
    if trigger not in triggers:
        return state
    try:
        return table[state, trigger]
    except KeyError:
        raise StateError(machine, state, trigger) from None

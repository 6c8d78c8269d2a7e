"""What a line costs under the flood limit, and the refusal that says so: one formula
for the server that charges it and the client that paces by it.

Owns :func:`line_price` (tokens per line: one, more for a fan-out, none for
``SAIR``) and the ``ERRO DEVAGAR <fichas> <espera> <texto>`` refusal
(:func:`slow_down_error` writes it, :func:`parse_slow_down` reads it). The
fan-out divisor itself, :data:`protocol.FANOUT_PER_TOKEN`, is stated on the wire
in ``LIMITES``. Pure, without I/O; called by the server's sessions and the
client's state, pacing and rendering; imports only :mod:`protocol`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import protocol


def fans_out(command: protocol.Command | None) -> bool:
    """Whether ``command``'s price grows with the room: TODOS (listeners) and
    LISTA TODOS (accounts listed)."""
    if isinstance(command, protocol.ListUsers):
        return command.everyone
    return isinstance(command, protocol.Broadcast)


def line_price(
    command: protocol.Command | None, fan_out: int, *, burst: int, per_token: int = protocol.FANOUT_PER_TOKEN
) -> int:
    """Flood tokens one line costs; the one formula the server charges and the client paces by.

    ``command``: ``None`` for a line the server refuses as no valid command
    (it costs one token, like any line). ``fan_out``: for a command that
    :func:`fans_out`, the others online (TODOS) or the accounts (LISTA
    TODOS); one token more per ``per_token`` of them (0: none more). But never
    more than ``burst`` in all, or a TODOS to a big enough room could never
    pass: someone who has been quiet can always speak once. ``SAIR`` is free:
    it ends the connection, so it can flood nothing, and leaving is never
    refused.
    """
    if isinstance(command, protocol.Quit):
        return 0
    price = 1 + (fan_out // per_token if per_token and fans_out(command) else 0)
    return min(price, burst) if burst > 0 else price


@dataclass(frozen=True)
class SlowDown:
    """The fields of ``ERRO DEVAGAR <fichas> <espera> <texto>``."""

    price: int  # tokens the refused line costs
    wait: float  # seconds until the server's bucket holds that many, if nothing else is sent
    text: str  # for the person


def slow_down_error(price: int, wait: float) -> protocol.ProtocolError:
    """``ERRO DEVAGAR <fichas> <espera> <texto>``: the flood limit refused this line, which
    was not executed and cost nothing; it costs ``price`` tokens, which the bucket holds in
    ``wait`` seconds: stated up to the next millisecond, so that waiting that long is
    enough, whatever the rounding of either side's clock."""
    milliseconds = max(0, math.floor(wait * 1000) + 1)
    seconds = f"{milliseconds // 1000}.{milliseconds % 1000:03d}".rstrip("0").rstrip(".")
    shown = seconds.replace(".", ",")
    tokens = "ficha" if price == 1 else "fichas"
    return protocol.ProtocolError(
        protocol.ErrorCode.SLOW_DOWN,
        f"{price} {seconds} Mensagens demais por segundo: esta linha custa {price} {tokens} e não foi "
        f"executada; tente de novo em {shown} s.",
    )


def parse_slow_down(text: str) -> SlowDown | None:
    """The fields of a ``DEVAGAR`` refusal's text (after the code); ``None`` if malformed."""
    price, _, rest = text.partition(" ")
    wait, _, shown = rest.partition(" ")
    if not (protocol.LIMIT_FIELD_RE.fullmatch(price) and protocol.LIMIT_FIELD_RE.fullmatch(wait)):
        return None
    try:
        return SlowDown(int(price), float(wait), shown)
    except ValueError:  # a decimal point in the price
        return None


def error_text(code: str, text: str) -> str:
    """What the person reads of ``ERRO <code> <text>``: the text, without a refusal's fields."""
    if code == protocol.ErrorCode.SLOW_DOWN and (stated := parse_slow_down(text)) is not None:
        return stated.text
    return text

"""What a line costs under the flood limit, and the refusal that says so: one formula
for the server that charges it and the client that paces by it.

Owns the ``LIMITES`` line that states the limits and prices
(:func:`format_limits`, :func:`parse_limits`), :func:`line_price` (tokens per
line: one, more for a fan-out, none for ``SAIR``) and the ``ERRO DEVAGAR <fichas> <espera> <texto>`` refusal
(:func:`slow_down_error` writes it, :func:`parse_slow_down` reads it). The
fan-out divisor itself, :data:`protocol.FANOUT_PER_TOKEN`, is stated on the wire
in ``LIMITES``. Pure, without I/O; called by the server's sessions and the
client's state, pacing and rendering; imports only :mod:`protocol`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import protocol


def fans_out(command: protocol.Command | None) -> bool:
    """Whether ``command``'s price grows with the room: TODOS and FALA (listeners),
    LISTA TODOS (accounts listed) and SALA MOVER (the names moved)."""
    if isinstance(command, protocol.PrivateMessage):  # first: nearly every line is a CHAT
        return False
    if isinstance(command, protocol.ListUsers):
        return command.everyone
    if isinstance(command, protocol.RoomCommand):
        return command.action == "MOVER"
    return isinstance(command, (protocol.Broadcast, protocol.RoomMessage))


def line_price(
    command: protocol.Command | None, fan_out: int, *, burst: int, per_token: int = protocol.FANOUT_PER_TOKEN
) -> int:
    """Flood tokens one line costs; the one formula the server charges and the client paces by.

    ``command``: ``None`` for a line the server refuses as no valid command
    (it costs one token, like any line). ``fan_out``: for a command that
    :func:`fans_out`, the others online (TODOS), the room's other members
    online (FALA), the accounts (LISTA TODOS) or the names (SALA MOVER); one token more per ``per_token`` of them (0: none more). But never
    more than ``burst`` in all, or a TODOS to a big enough room could never
    pass: someone who has been quiet can always speak once. ``SAIR`` is free:
    it ends the connection, so it can flood nothing, and leaving is never
    refused.
    """
    if isinstance(command, protocol.Quit):
        return 0
    price = 1 + (fan_out // per_token if fan_out and per_token and fans_out(command) else 0)
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
    if not (LIMIT_FIELD_RE.fullmatch(price) and LIMIT_FIELD_RE.fullmatch(wait)):
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


# --- The LIMITES line ---------------------------------------------------------


def format_limits(rate: float, burst: int, max_line: int, per_token: int = protocol.FANOUT_PER_TOKEN) -> str:
    """``LIMITES <taxa> <rajada> <linha> <ouvintes-por-ficha>``: lines per second (0: no
    limit), lines at once, bytes per line counting the newline, and the fan-out price
    (see :func:`batchat.prices.line_price`)."""
    return f"LIMITES {rate:g} {burst} {max_line} {per_token}"


def parse_limits(fields: tuple[str, ...]) -> tuple[float, int, int, int] | None:
    """The fields of a ``LIMITES`` line as (rate, burst, max_line, per_token); ``None`` if
    malformed or outside what a server can mean (a hostile server must not make a client
    wait for ever, or overflow: see the bounds below).

    The fourth field may be missing (a server older than it: 10, what those
    charged), and fields after it are ignored (a newer server may state more).
    """
    stated = [field for field in fields[3:4] if field]
    if len(fields) < 3 or not all(LIMIT_FIELD_RE.fullmatch(field) for field in [*fields[:3], *stated]):
        return None
    try:
        rate, burst, max_line = float(fields[0]), int(fields[1]), int(fields[2])
        per_token = int(stated[0]) if stated else protocol.FANOUT_PER_TOKEN
    except ValueError:  # a decimal point in the counts
        return None
    if not (0 <= rate <= MAX_LIMIT_RATE and 0 <= burst <= MAX_LIMIT_BURST and 0 <= max_line <= protocol.MAX_SERVER_LINE
            and 0 <= per_token <= MAX_LIMIT_BURST):
        return None
    return rate, burst, max_line, per_token


# Plain decimal numbers only, and not too many digits: no sign, no "inf" or
# "nan", no spaces, no "_", no 400-digit count.
LIMIT_FIELD_RE = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?(e[+-]?[0-9]{1,3})?", re.ASCII)
# What a LIMITES line may state (0: no limit): the server's own option maxima,
# and no line longer than what a client reads. A tiny rate is allowed; the
# client's pacer never waits more than a minute for it (batchat.client.flow).
MAX_LIMIT_RATE = 1e6
MAX_LIMIT_BURST = 10**6

"""Durations as people type them (``30s``, ``10m``, ``2h``, ``1d``, ``SEMPRE``) and as they read them.

Owns :func:`parse_duration`, its inverse :func:`duration_word`, and
:func:`describe_duration`. Pure: no I/O, no
clock, no BatChat import. Used by the server (the teacher's SILENCIAR and
BANIR, the option ``--espera-expulsao``) and by the client (its sentences).
A bad duration raises ``ValueError`` with a Portuguese sentence; the caller
turns it into its own error (an ``ERRO`` reply, an argparse message).
"""

from __future__ import annotations

import re

FOREVER_WORD = "SEMPRE"

# Seconds in one of each unit, by its letter (lower case).
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

MIN_SECONDS = 1
MAX_SECONDS = 365 * 86400

_MAX_DIGITS = 9  # more than a year in seconds anyway; int() never sees a huge string
_DURATION_RE = re.compile(r"([0-9]{1,%d})([smhd])" % _MAX_DIGITS, re.ASCII | re.IGNORECASE)

# (seconds, singular, plural) for describe_duration, largest first.
_UNIT_NAMES = (
    (86400, "dia", "dias"),
    (3600, "hora", "horas"),
    (60, "minuto", "minutos"),
    (1, "segundo", "segundos"),
)


def parse_duration(text: str, *, forever_allowed: bool = False) -> int | None:
    """Seconds in ``text``: ASCII digits then one of ``s m h d`` (any case), from 1 s
    to 365 days; ``None`` for ``SEMPRE`` (any case) when ``forever_allowed``.
    Anything else raises ``ValueError`` with a sentence that says what is valid."""
    if text.upper() == FOREVER_WORD:
        if forever_allowed:
            return None
        raise ValueError(f"Aqui não vale {FOREVER_WORD}: {_what_is_valid(False)}")
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"Duração inválida: {_what_is_valid(forever_allowed)}")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2).lower()]
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"Duração fora do intervalo: {_what_is_valid(forever_allowed)}")
    return seconds


def _what_is_valid(forever_allowed: bool) -> str:
    forever = f", ou {FOREVER_WORD}" if forever_allowed else ""
    return (
        "use um número seguido de s, m, h ou d (segundos, minutos, horas, dias), "
        f"de 1s a 365d, como 30s, 10m, 2h ou 1d{forever}."
    )


def duration_word(seconds: int) -> str:
    """The shortest word :func:`parse_duration` reads as ``seconds``: ``5m``, ``2h``, ``90s``."""
    for unit in "dhm":
        if seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def describe_duration(seconds: int | None) -> str:
    """``seconds`` for people, in Portuguese: ``5 minutos``, ``1 hora e 30 minutos``,
    ``para sempre`` for ``None``. At most the two largest units, the rest left out
    (``1 dia, 2 horas e 3 s`` reads as ``1 dia e 2 horas``)."""
    if seconds is None:
        return "para sempre"
    if seconds < 1:
        return "0 segundos"
    parts = []
    rest = int(seconds)
    for size, singular, plural in _UNIT_NAMES:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {singular if count == 1 else plural}")
        if len(parts) == 2 or (parts and not rest):
            break
    return " e ".join(parts)

"""Test helpers: the client's clock and time zone fixed, and wire timestamps in them.

Every client test that renders a time uses these, never the machine's clock
or zone, so each gives the same answer on any day and in any time zone.
"""

from __future__ import annotations

import datetime
import unicodedata

import protocol
from batchat.client.render import Clock

TEXT_UTF8 = "ação 🦇"


def is_forbidden(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


# The client's clock in these tests: a fixed zone and a fixed "now", never the
# machine's, so every rendering below is the same on any day and in any TZ.
ZONE = datetime.timezone(datetime.timedelta(hours=-3), "BRT")  # São Paulo, no DST


def local_seconds(*fields: int, zone: datetime.tzinfo = ZONE) -> float:
    """Seconds since the epoch of a date and time in ``zone``."""
    return datetime.datetime(*fields, tzinfo=zone).timestamp()  # type: ignore[misc]


def stamp(*fields: int, zone: datetime.tzinfo = ZONE) -> str:
    """The wire form of a date and time in ``zone``: UTC ISO 8601."""
    return protocol.format_timestamp(local_seconds(*fields, zone=zone))


def fixed_clock(*fields: int, zone: datetime.tzinfo = ZONE) -> Clock:
    """A client clock stopped at that date and time in ``zone``."""
    now = local_seconds(*fields, zone=zone)
    return Clock(now=lambda: now, zone=zone)


NOW = local_seconds(2026, 11, 21, 15, 0)
CLOCK = fixed_clock(2026, 11, 21, 15, 0)

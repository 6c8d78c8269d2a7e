"""From a byte stream to lines, whatever the chunking: the wire's framing, without I/O.

Owns :class:`LineFramer`. One message per line, ended by ``\\n``; a ``\\r``
right before it is dropped. Lines are framed by newline, never by ``recv()``
call. Used by the server's reader, the client and the tests.
"""

from __future__ import annotations

class LineTooLong:
    """Stands in :meth:`LineFramer.feed`'s output for a line over the limit, dropped."""

    def __repr__(self) -> str:
        return "LINE_TOO_LONG"


LINE_TOO_LONG = LineTooLong()


class FramingError(Exception):
    """The peer sent far too many bytes without a newline: drop the connection."""


class LineFramer:
    """Split a byte stream into lines, whatever the chunking of ``feed`` calls.

    A command split across many TCP segments, or several commands in one
    segment, come out the same. Lines are returned without the ``\\n`` and
    without a ``\\r`` right before it.

    With ``max_line`` (bytes, counting the newline; 0 means no limit), a longer
    line comes out as :data:`LINE_TOO_LONG` and its bytes are dropped as they
    arrive, so memory stays bounded by ``max_line`` whatever the peer sends.
    More than ``4 * max_line`` bytes with no newline raises :class:`FramingError`.
    """

    def __init__(self, max_line: int = 0) -> None:
        self._max_line = max_line
        self._pending = bytearray()
        self._dropped = 0  # bytes of the current over-long line dropped so far

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add ``data`` and return every line it completes, in order."""
        *complete, rest = data.split(b"\n")
        lines = [self._finish(part) for part in complete]
        self._keep(rest)
        return lines

    @property
    def pending(self) -> int:
        """Bytes kept that do not yet form a complete line."""
        return len(self._pending)

    def _finish(self, part: bytes) -> bytes | LineTooLong:
        self._check_run(self._dropped + len(self._pending) + len(part))
        if self._dropped:
            self._dropped = 0
            return LINE_TOO_LONG
        if self._pending:
            part = bytes(self._pending + part)
            self._pending.clear()
        if self._max_line and len(part) + 1 > self._max_line:
            return LINE_TOO_LONG
        return part[:-1] if part.endswith(b"\r") else part

    def _keep(self, part: bytes) -> None:
        self._check_run(self._dropped + len(self._pending) + len(part))
        if self._dropped:
            self._dropped += len(part)
        else:
            self._pending += part
            if self._max_line and len(self._pending) >= self._max_line:
                # Already too long even before its newline: stop storing it.
                self._dropped = len(self._pending)
                self._pending.clear()

    def _check_run(self, run: int) -> None:
        """A run of bytes with no newline past 4 x max_line ends the connection,
        however the bytes were split into chunks."""
        if self._max_line and run > 4 * self._max_line:
            raise FramingError(f"{run} bytes sem quebra de linha")

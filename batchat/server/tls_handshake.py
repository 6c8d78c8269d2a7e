"""The server's side of TLS: its certificate, and the handshake on one socket.

Owns :class:`TlsSettings`. Called by the server: each connection's own
thread runs its handshake, so a client that stalls there holds up nobody.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import tls_bytes
from batchat.server import foreign, replies
from batchat.server.connection import RECV_SIZE
from batchat.server.ending import Closer, SessionEnded
from batchat.server.timing import DEFAULT_TIMING

log = logging.getLogger(__name__)


DEFAULT_TLS_TIMEOUT = 10.0  # seconds a client has to finish the TLS handshake
HANDSHAKE_TIME = "de tempo do handshake TLS (--tls-timeout)"  # completes "limite" in the log


def tls_required_error() -> ProtocolError:
    """The one plaintext line a client without TLS gets on a TLS server."""
    return ProtocolError(
        ErrorCode.WRONG_PROTOCOL,
        "Este servidor BatChat usa TLS. Use: python3 cliente.py --tls --host <servidor>",
    )


@dataclass(frozen=True)
class TlsSettings:
    """The server's certificate, and how long a client may take over the TLS handshake."""

    context: ssl.SSLContext
    timeout: float  # seconds for the whole handshake, from the first byte awaited

    @classmethod
    def load(cls, certificate: Path, key: Path, timeout: float) -> TlsSettings:
        """Raises ``OSError`` (missing file) or ``ssl.SSLError`` (not a matching pair)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = tls_bytes.TLS_MINIMUM_VERSION
        context.load_cert_chain(certificate, key)
        return cls(context, timeout)

    def handshake(self, sock: socket.socket) -> tls_bytes.TlsEndpoint:
        """Run the server side of the handshake on ``sock``, in the calling thread:
        the connection's own, so a client that stalls here never holds up accept().

        Raises :class:`SessionEnded` when it fails or takes longer than ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        endpoint = tls_bytes.TlsEndpoint(self.context, server_side=True)
        sock.settimeout(self.timeout)  # our sends too: a client may stop reading
        try:
            self._refuse_plaintext(sock, deadline)
            endpoint.complete_handshake(sock.sendall, lambda: self._receive(sock, deadline))
        except TimeoutError:
            raise SessionEnded(Closer.LIMIT, HANDSHAKE_TIME) from None
        except ssl.SSLError as error:
            with contextlib.suppress(OSError):  # the alert that says why, if it still can go
                sock.sendall(endpoint.take_output())
            raise SessionEnded(Closer.SERVER, f"handshake TLS recusado ({error.reason or error})") from None
        finally:
            sock.settimeout(None)  # back to blocking: Connection relies on it
        return endpoint

    @staticmethod
    def _receive(sock: socket.socket, deadline: float, flags: int = 0, size: int = RECV_SIZE) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        data = sock.recv(size, flags)
        if not data:
            raise SessionEnded(Closer.CLIENT, "durante o handshake TLS")
        return data

    def _refuse_plaintext(self, sock: socket.socket, deadline: float) -> None:
        """A client that starts with anything but a TLS record gets one plaintext line
        at once (``cliente.py`` without ``--tls`` sends a blank line for this); so does
        one that says nothing at all until the deadline (a plaintext client waiting for
        our greeting: a TLS client always speaks first).

        The bytes already there are read first: closing a socket with unread bytes
        sends a reset, which may make the client's system throw our line away."""
        try:
            first = self._receive(sock, deadline, socket.MSG_PEEK, 1)
        except TimeoutError:
            first = b""
        if foreign.foreign_protocol(first) != "TLS":
            sock.settimeout(DEFAULT_TIMING.close_grace)  # it may not read
            if first:
                sock.recv(RECV_SIZE)  # what is there, at least the byte peeked: no wait
            sock.sendall(replies.error(tls_required_error()))
            if first:
                raise SessionEnded(Closer.SERVER, "cliente sem TLS na porta TLS")
            raise SessionEnded(Closer.LIMIT, f"{HANDSHAKE_TIME}, pois o cliente não disse nada")

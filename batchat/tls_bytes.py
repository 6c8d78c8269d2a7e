"""TLS as a byte transform over memory buffers: no socket, no thread.

Owns :class:`TlsEndpoint`, one side of a TLS session, used by the server's
connections (``batchat.server.connection``, ``batchat.server.tls_handshake``) and the client's link
(``batchat.client.link``); each of them serialises every call with its own lock and
does the socket I/O itself. Sans-I/O like ``protocol``: its tests feed it bytes.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

TLS_MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2
TLS_READ_SIZE = 65536


class TlsEndpoint:
    """One side of a TLS session as a pure byte transform: no socket, no thread.

    :class:`ssl.SSLObject` over two :class:`ssl.MemoryBIO`, the standard
    library's sans-I/O TLS. The caller moves the bytes: :meth:`feed` what came
    from the network, :meth:`read` the plaintext it carried, :meth:`encrypt`
    what to send, and send whatever :meth:`take_output` holds (handshake and
    post-handshake records too).

    Why not :class:`ssl.SSLSocket`: both programs read a connection in one
    thread while others write to it, and OpenSSL forbids using one SSL object
    from two threads at once (an ``SSL_read`` during an ``SSL_write`` can
    corrupt the session or crash; CPython issue gh-151508). Here the owner
    serialises every call with one lock, and does the socket I/O itself.
    """

    def __init__(
        self, context: ssl.SSLContext, *, server_side: bool, server_hostname: str | None = None
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )

    def handshake(self) -> bool:
        """Advance the handshake with what was fed; ``True`` once it is complete.

        Raises :class:`ssl.SSLError` when it fails (a refused certificate, a
        peer that does not speak TLS); :meth:`take_output` may hold an alert.
        """
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def complete_handshake(
        self, send: Callable[[bytes], object], receive: Callable[[], bytes]
    ) -> None:
        """Drive the handshake to its end with the caller's I/O: ``send`` what must go
        out, ``receive`` the peer's next bytes (raising, with the caller's own
        deadline, rather than returning nothing). Raises :class:`ssl.SSLError`
        when the handshake fails."""
        while not self.handshake():
            send(self.take_output())
            self.feed(receive())
        send(self.take_output())  # our last flight (a TLS 1.3 server: its session tickets)

    def decrypt(self, data: bytes) -> tuple[bytes | None, bytes]:
        """Take ``data`` from the peer (``b""``: nothing new); the plaintext so far, as
        :meth:`read` gives it, and what must be sent back at once (TLS 1.3 may
        answer on its own: session tickets, key updates)."""
        if data:
            self.feed(data)
        return self.read(), self.take_output()

    def feed(self, data: bytes) -> None:
        """Bytes received from the peer; ``b""`` when the connection ended."""
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def read(self) -> bytes | None:
        """All the plaintext the bytes fed so far carry (maybe ``b""``: half a record);
        ``None`` once the peer has closed the session."""
        chunks = []
        while True:
            try:
                chunk = self._tls.read(TLS_READ_SIZE)
            except ssl.SSLWantReadError:
                return b"".join(chunks)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # close_notify, or the connection ended without one: either way
                # nothing more will come. Plaintext already read still counts.
                return b"".join(chunks) if chunks else None
            if not chunk:
                return b"".join(chunks) if chunks else None
            chunks.append(chunk)

    def encrypt(self, data: bytes) -> bytes:
        """The records that carry ``data`` (and anything else waiting to go out)."""
        view = memoryview(data)
        while view:
            view = view[self._tls.write(view):]
        return self.take_output()

    def take_output(self) -> bytes:
        """Bytes the session needs sent to the peer, now."""
        return self._outgoing.read()

    def close(self) -> bytes:
        """Start closing the session; the ``close_notify`` alert to send."""
        # unwrap() then waits for the peer's own close_notify, which we do not
        # need; a session that never finished its handshake has none to send.
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()
        return self.take_output()

    @property
    def version(self) -> str | None:
        """The TLS version agreed, e.g. ``"TLSv1.3"``; ``None`` before the handshake."""
        return self._tls.version()

"""The connection to the server: a socket, with TLS over it when asked for.

Owns :class:`Link` (what the client's threads receive from and send on),
:func:`open_link` with the TLS handshake and its one deadline, the client's
TLS settings (:func:`tls_context`) and the Portuguese words for network
failures (:func:`network_error_reason`, :func:`connect_problem`).

Called by :mod:`batchat.client.threads`; imports only :mod:`protocol` and :mod:`batchat.portable`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import ssl
import threading
import time

import protocol
from batchat import portable, tls_bytes

RECV_SIZE = 65536
CONNECT_TIMEOUT = 10.0


# What the person reads when the network fails: the system's own text is in English.
_OS_ERRORS_PT = {
    errno.ECONNREFUSED: "conexão recusada",
    errno.ECONNRESET: "conexão interrompida pelo servidor",
    errno.ECONNABORTED: "conexão interrompida",
    errno.ETIMEDOUT: "tempo esgotado",
    errno.EHOSTUNREACH: "endereço inalcançável",
    errno.ENETUNREACH: "rede inalcançável",
    errno.EPIPE: "conexão fechada",
    errno.ENOTCONN: "sem conexão",
}


def network_error_reason(error: OSError) -> str:
    """A short Portuguese reason for a network error."""
    if isinstance(error, socket.timeout):
        return "tempo esgotado"
    if isinstance(error, socket.gaierror):
        return "endereço não encontrado"
    return _OS_ERRORS_PT.get(error.errno or 0) or error.strerror or str(error)


def connect_problem(host: str, port: int, error: OSError) -> str:
    """Why the first connection failed, and what to check, in Portuguese."""
    if isinstance(error, socket.gaierror):
        return (
            f"Não foi possível encontrar o servidor {host}: não é um IP nem um nome conhecido "
            "(ou este computador está sem rede). Confira o --host, por exemplo: "
            "python3 cliente.py --host 192.168.0.10"
        )
    return (
        f"Não foi possível conectar a {protocol.format_address(host, port)} "
        f"({network_error_reason(error)}).\n"
        "Verifique se o servidor está rodando (python3 servidor.py) "
        "e se o endereço e a porta estão certos (--host, --port)."
    )


class Link:
    """The connection to the server: a socket, with TLS over it when asked for.

    The main thread receives on it; any of the three threads may send. An
    SSL session must never be used by two threads at once (see
    :class:`tls_bytes.TlsEndpoint`), so every use of it happens under the
    client's one send lock: :meth:`send` is called with it held, and
    :meth:`receive` takes it once bytes have arrived.
    """

    def __init__(
        self, sock: socket.socket, tls: tls_bytes.TlsEndpoint | None = None, early: bytes = b""
    ) -> None:
        self.sock = sock
        self._tls = tls
        self._early = early  # plaintext that came with the end of the TLS handshake

    @property
    def encrypted(self) -> bool:
        """Whether the connection uses TLS."""
        return self._tls is not None

    @property
    def description(self) -> str:
        """How the connection is protected, for the banner: ``" com TLSv1.3"`` or nothing."""
        return "" if self._tls is None else f" com {self._tls.version}"

    def wait_readable(self, timeout: float) -> bool:
        """Whether bytes (or the end) can be received within ``timeout`` seconds."""
        if self._early:
            return True
        try:
            return portable.wait_readable(self.sock, timeout)
        except (OSError, ValueError):  # closed meanwhile: receive() says how
            return True

    def receive(self, send_lock: threading.Lock) -> bytes | None:
        """The server's next bytes, decrypted if need be (``b""``: half a TLS record);
        ``None`` once it closed the connection. Waits without ``send_lock``, and
        takes it to use the TLS session."""
        if self._early:
            early, self._early = self._early, b""
            return early
        data = self.sock.recv(RECV_SIZE)
        if not data:
            return None
        if self._tls is None:
            return data
        with send_lock:
            plaintext, reply = self._tls.decrypt(data)
            if reply:
                self.sock.sendall(reply)
        return plaintext

    def send(self, data: bytes) -> None:
        """Send ``data`` whole. Call with the send lock held."""
        self.sock.sendall(data if self._tls is None else self._tls.encrypt(data))

    def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


class TlsRefused(Exception):
    """The TLS handshake failed; the text says why, in Portuguese."""


def open_link(address: tuple[str, int], tls: ssl.SSLContext | None) -> Link:
    """Connect, and with ``tls`` complete the handshake, all within CONNECT_TIMEOUT.

    Raises ``OSError`` when the server cannot be reached, :class:`TlsRefused`
    when it is reached but the TLS session cannot be set up.
    """
    deadline = time.monotonic() + CONNECT_TIMEOUT
    sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
    try:
        link = Link(sock) if tls is None else _handshake(sock, tls, address[0], deadline)
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)  # pushes may come at any time: wait for them
    return link


def _handshake(sock: socket.socket, context: ssl.SSLContext, host: str, deadline: float) -> Link:
    endpoint = tls_bytes.TlsEndpoint(context, server_side=False, server_hostname=host)

    def receive() -> bytes:
        # One deadline for the whole handshake: a server that trickles bytes cannot stall us.
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(RECV_SIZE)
        if not data:
            raise TlsRefused("o servidor fechou a conexão durante o handshake TLS")
        return data

    try:
        endpoint.complete_handshake(sock.sendall, receive)
        early = endpoint.read() or b""  # the greeting may have come with the server's last flight
    except ssl.SSLCertVerificationError as error:
        with contextlib.suppress(OSError):  # the alert, so the server's log says why
            sock.sendall(endpoint.take_output())
        raise TlsRefused(
            f"o certificado do servidor não foi aceito ({error.verify_message}). "
            "Se o servidor usa um certificado próprio, indique-o com --cafile."
        ) from None
    except ssl.SSLError as error:
        raise TlsRefused(
            f"o servidor não completou o TLS ({error.reason or error}); "
            "ele usa TLS? Sem --tls o cliente conecta em texto puro."
        ) from None
    return Link(sock, endpoint, early)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's TLS settings from the options; ``None`` without TLS."""
    if args.tls_insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif args.tls or args.cafile:
        context = ssl.create_default_context(cafile=args.cafile)
    else:
        return None
    context.minimum_version = tls_bytes.TLS_MINIMUM_VERSION
    return context

"""End-to-end tests of the encrypted transport: servidor.py with --tls-cert/--tls-key.

The fixtures in tests/tls/ are self-signed certificates for 127.0.0.1 and
localhost, valid for a century, made once with (OpenSSL 3):

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
        -days 36500 -subj /CN=localhost \\
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \\
        -addext basicConstraints=critical,CA:TRUE \\
        -keyout servidor.key -out servidor.crt

``outra-ca.crt`` is a second certificate made the same way (its key thrown
away): a CA that did not sign the server's, for the "wrong CA" test. They are
test fixtures only; the key is public, so never use them for a real server.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import tempfile
import unittest
import warnings

import protocol
from tests.support import OTHER_CA, SERVER, TIMEOUT, TLS_CERT, TLS_KEY, LineClient, ServerTestCase

TLS_ARGS = ("--tls-cert", str(TLS_CERT), "--tls-key", str(TLS_KEY))


def trusting(cafile: str | None = str(TLS_CERT)) -> ssl.SSLContext:
    """A client context that verifies the server against ``cafile``."""
    return ssl.create_default_context(cafile=cafile)


def client_hello() -> bytes:
    """The first bytes a TLS client sends."""
    endpoint = protocol.TlsEndpoint(trusting(), server_side=False, server_hostname="127.0.0.1")
    endpoint.handshake()
    return endpoint.take_output()


class TlsServerTest(ServerTestCase):
    server_args = (*TLS_ARGS, "--tls-timeout", "1", "--flood-rate", "0")

    def tls_client(self, name: str, *, register: bool = True) -> LineClient:
        client = self.logged_in(name, register=register, tls=trusting())
        assert isinstance(client.sock, ssl.SSLSocket)
        self.assertIn(client.sock.version(), ("TLSv1.2", "TLSv1.3"))
        return client

    def test_chat_end_to_end(self) -> None:
        self.server.wait_for_log("pronto em .* com TLS")
        alice = self.tls_client("alice")
        bob = self.tls_client("bob")
        self.assertEqual(alice.read_line(), "ENTROU bob")
        self.assertEqual(alice.request("CHAT bob segredo 🦇"), "OK CHAT bob")
        self.assertEqual(bob.read_line(), "MSG alice segredo 🦇")
        self.assertEqual(bob.request("TODOS oi a todos"), "OK TODOS")
        self.assertEqual(alice.read_line(), "TODOS bob oi a todos")
        self.register_over_tls("carol")
        self.assertEqual(alice.request("CHAT carol depois"), "OK CHAT carol GUARDADA")
        bob.send("SAIR")
        self.assertEqual(bob.expect_closed(), ["OK SAIR"])
        self.assertEqual(alice.read_line(), "SAIU bob")

    def register_over_tls(self, name: str) -> None:
        client = self.connect(tls=trusting())
        self.assertEqual(client.request(f"NOVO {name} senha123"), f"OK NOVO {name}")
        client.close()

    def test_many_lines_both_ways_at_once(self) -> None:
        # The reader decrypts while other threads encrypt to the same session:
        # what the one lock per connection is for.
        alice = self.tls_client("alice")
        bob = self.tls_client("bob")
        self.assertEqual(alice.read_line(), "ENTROU bob")
        count = 300
        alice.send_bytes("".join(f"CHAT bob a{i}\n" for i in range(count)).encode())
        bob.send_bytes("".join(f"CHAT alice b{i}\n" for i in range(count)).encode())
        for client, other in ((alice, "bob"), (bob, "alice")):
            lines = [client.read_line() for _ in range(2 * count)]
            self.assertEqual(lines.count(f"OK CHAT {other}"), count)
            prefix = "b" if other == "bob" else "a"
            self.assertEqual([line for line in lines if line.startswith("MSG")],
                             [f"MSG {other} {prefix}{i}" for i in range(count)])

    def test_a_plaintext_client_gets_one_clear_line(self) -> None:
        client = self.connect(read_greeting=False)
        client.send("ENTRAR alice senha123")
        lines = client.expect_closed()
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("ERRO PROTOCOLO_INVALIDO "), lines)
        self.assertIn("--tls", lines[0])

    def test_a_client_that_never_finishes_the_handshake_is_dropped_and_blocks_nobody(self) -> None:
        silent = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(silent.close)
        halfway = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(halfway.close)
        halfway.sendall(client_hello()[:20])  # a record header and a bit: then nothing
        # Meanwhile the server accepts and serves others as usual.
        alice = self.tls_client("alice")
        self.assertEqual(alice.request("PING"), "OK PING")
        for sock in (silent, halfway):
            self.assertEqual(sock.recv(100), b"", "closed by the server after --tls-timeout")
        self.server.wait_for_log("o handshake não terminou a tempo", count=2)
        self.assertEqual(alice.request("PING"), "OK PING")

    def test_tls_older_than_1_2_is_refused_by_the_server(self) -> None:
        context = trusting()
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that this client really offers TLS 1.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is, and that is the point
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaisesRegex(ssl.SSLError, "PROTOCOL_VERSION"):
            LineClient(self.server.port, tls=context)
        self.server.wait_for_log(r"handshake recusado \(UNSUPPORTED_PROTOCOL\)")
        self.assertEqual(self.tls_client("alice").request("PING"), "OK PING")


class TlsStartTest(unittest.TestCase):
    def run_server(self, *args: str) -> subprocess.CompletedProcess[str]:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        return subprocess.run(
            [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0", *args],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=folder.name,
        )

    def test_bad_certificate_options_stop_the_start_with_a_reason(self) -> None:
        cases = [
            (("--tls-cert", str(TLS_CERT)), "--tls-cert e --tls-key vão juntos"),
            (("--tls-cert", str(TLS_CERT), "--tls-key", str(TLS_CERT)), "Não foi possível usar o certificado"),
            (("--tls-cert", "nao-existe.crt", "--tls-key", str(TLS_KEY)), "Não foi possível usar o certificado"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                result = self.run_server(*args)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)
                self.assertNotIn("Traceback", result.stderr)

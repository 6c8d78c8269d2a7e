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

import re
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import warnings
from collections.abc import Callable
from unittest import mock

from batchat.client import link as client_link
from batchat import tls_bytes
from tests.support import CLIENT, OTHER_CA, PYTHON, SERVER, TIMEOUT, TLS_CERT, TLS_KEY, LineClient, ServerTestCase

TLS_ARGS = ("--tls-cert", str(TLS_CERT), "--tls-key", str(TLS_KEY))


def trusting(cafile: str | None = str(TLS_CERT)) -> ssl.SSLContext:
    """A client context that verifies the server against ``cafile``."""
    return ssl.create_default_context(cafile=cafile)


def client_hello() -> bytes:
    """The first bytes a TLS client sends."""
    endpoint = tls_bytes.TlsEndpoint(trusting(), server_side=False, server_hostname="127.0.0.1")
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
        # The command it shows for connecting asks for TLS, checked against this certificate.
        self.server.wait_for_log(rf"pronto em .* com TLS .*: python3 cliente\.py \d+ --tls --cafile servidor\.crt$")
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
        carol = self.tls_client("carol", register=False)
        pending, info, history = carol.login_lines
        self.assertTrue(pending.startswith("PENDENTE alice "), pending)
        self.assertEqual(info, "INFO 1 mensagem privada esperava por você.")
        self.assertTrue(history.startswith("HISTORICO bob "), history)

    def test_a_first_line_sent_with_the_end_of_the_handshake_is_answered(self) -> None:
        # A fast client sends its first line in the same packet as its last
        # handshake message; the server must not wait for more to answer it.
        endpoint = tls_bytes.TlsEndpoint(trusting(), server_side=False, server_hostname="127.0.0.1")
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(sock.close)
        while not endpoint.handshake():
            sock.sendall(endpoint.take_output())
            endpoint.feed(sock.recv(65536))
        sock.sendall(endpoint.take_output() + endpoint.encrypt(b"PING\n"))
        received = b""
        while b"OK PING\n" not in received:
            data = sock.recv(65536)
            self.assertTrue(data, f"closed before OK PING; got {received!r}")
            endpoint.feed(data)
            received += endpoint.read() or b""
        self.assertTrue(received.startswith(b"BATCHAT 1 Bem-vindo"))

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
        self.server.stop()
        self.server_args = (*TLS_ARGS, "--tls-timeout", "0.5")  # still far more than alice's login below
        self.server = self.start_server()
        silent = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(silent.close)
        halfway = socket.create_connection(("127.0.0.1", self.server.port), timeout=TIMEOUT)
        self.addCleanup(halfway.close)
        halfway.sendall(client_hello()[:20])  # a record header and a bit: then nothing
        # Meanwhile the server accepts and serves others as usual: alice is in
        # and answered while both stalled handshakes are still waiting. (Were
        # they done by the accept loop, alice would wait out their timeouts.)
        alice = self.tls_client("alice")
        self.assertEqual(alice.request("PING"), "OK PING")
        for sock in (silent, halfway):
            sock.setblocking(False)
            with self.assertRaises(BlockingIOError, msg="still open: not yet timed out"):
                sock.recv(1)
            sock.settimeout(TIMEOUT)
        self.assertEqual(halfway.recv(100), b"", "closed by the server after --tls-timeout")
        # Not a byte: maybe a plaintext client waiting for a greeting. It gets told.
        self.assertTrue(silent.recv(1000).startswith(b"ERRO PROTOCOLO_INVALIDO "))
        self.assertEqual(silent.recv(100), b"")
        self.server.wait_for_log(r"encerrada pelo servidor: limite de tempo do handshake TLS \(--tls-timeout\)\.$")
        self.server.wait_for_log(r"\(--tls-timeout\), pois o cliente não disse nada\.$")
        self.assertEqual(alice.request("PING"), "OK PING")

    def test_tls_older_than_1_2_is_refused_by_the_server(self) -> None:
        context = trusting()
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that this client really offers TLS 1.1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is, and that is the point
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaisesRegex(ssl.SSLError, "PROTOCOL_VERSION"):
            LineClient(self.server.port, tls=context)
        self.server.wait_for_log(r"encerrada pelo servidor: handshake TLS recusado \(UNSUPPORTED_PROTOCOL\)")
        self.assertEqual(self.tls_client("alice").request("PING"), "OK PING")


def run_client(port: int, typed: str, *options: str) -> subprocess.CompletedProcess[str]:
    """cliente.py with piped input, to the end."""
    return subprocess.run(
        [*PYTHON, str(CLIENT), "--port", str(port), "--no-reconnect", *options],
        input=typed, capture_output=True, text=True, timeout=TIMEOUT,
    )


class TlsClientTest(ServerTestCase):
    """cliente.py against the TLS server: it verifies the certificate, or says why not."""

    server_args = (*TLS_ARGS, "--tls-timeout", "1")

    def setUp(self) -> None:
        super().setUp()
        self.bob = self.logged_in("bob", tls=trusting())
        self.register_alice()

    def register_alice(self) -> None:
        client = self.connect(tls=trusting())
        self.assertEqual(client.request("NOVO alice senha123"), "OK NOVO alice")

    def test_verified_session(self) -> None:
        result = run_client(self.server.port, "ENTRAR alice senha123\nCHAT bob oi cifrado\nSAIR\n",
                            "--tls", "--cafile", str(TLS_CERT))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"Conectado a 127\.0\.0\.1:\d+ com TLSv1\.[23]\. Bem-vindo")
        self.assertIn("eu → bob: oi cifrado", result.stdout)
        self.assertEqual(self.bob.read_line(), "ENTROU alice")
        self.assertEqual(self.bob.read_line(), "MSG alice oi cifrado")
        self.assertEqual(result.stderr, "")

    def test_a_certificate_from_another_ca_is_refused(self) -> None:
        result = run_client(self.server.port, "ENTRAR alice senha123\n", "--tls", "--cafile", str(OTHER_CA))
        self.assertEqual(result.returncode, 1)
        self.assertIn("o certificado do servidor não foi aceito", result.stderr)
        self.assertIn("--cafile", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.server.wait_for_log("handshake TLS recusado")
        self.assertEqual(self.bob.request("LISTA"), "OK LISTA bob", "no login happened")

    def test_the_system_cas_do_not_trust_a_self_signed_server(self) -> None:
        result = run_client(self.server.port, "ENTRAR alice senha123\n", "--tls")
        self.assertEqual(result.returncode, 1)
        self.assertIn("o certificado do servidor não foi aceito", result.stderr)

    def test_insecure_says_so_loudly_and_still_encrypts(self) -> None:
        result = run_client(self.server.port, "ENTRAR alice senha123\nSAIR\n", "--tls-insecure")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("ATENÇÃO: --tls-insecure", result.stderr)
        self.assertIn("NÃO é verificado", result.stderr)
        self.assertRegex(result.stdout, r"com TLSv1\.[23] SEM VERIFICAÇÃO\.")
        self.assertEqual(self.bob.read_line(), "ENTROU alice")

    def test_without_tls_the_server_explains(self) -> None:
        self.server.stop()  # the client waits for a greeting: the server speaks at --tls-timeout
        self.server_args = (*TLS_ARGS, "--tls-timeout", "0.2")
        self.server = self.start_server()
        result = run_client(self.server.port, "ENTRAR alice senha123\n")
        self.assertEqual(result.returncode, 1)
        self.assertIn("é um servidor BatChat com TLS e esta conexão não é cifrada: use --tls", result.stdout)


class TlsDefaultsTest(ServerTestCase):
    """Both programs with their default options (--tls-timeout 10 s; the client's 5 s for a
    greeting): a client without --tls is told at once to use it, no password sent."""

    server_args = TLS_ARGS

    def test_a_client_without_tls_is_told_to_use_it(self) -> None:
        result = subprocess.run(
            [*PYTHON, str(CLIENT), "--port", str(self.server.port)],
            input="ENTRAR alice senha123\n", capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"^\[\d\d:\d\d\] " + re.escape(
            f"127.0.0.1:{self.server.port} é um servidor BatChat com TLS e esta conexão não é cifrada: use --tls "
            "(e --cafile <arquivo>, se o certificado do servidor for próprio).\n") + "$")
        self.server.wait_for_log(r"encerrada pelo servidor: cliente sem TLS na porta TLS\.$")  # not its deadline
        self.assertEqual(result.stderr, "")


class TlsClientPlainServerTest(ServerTestCase):
    def test_tls_to_a_plaintext_server_is_explained(self) -> None:
        result = run_client(self.server.port, "PING\n", "--tls", "--cafile", str(TLS_CERT))
        self.assertEqual(result.returncode, 1)
        self.assertIn("o servidor não completou o TLS", result.stderr)
        self.assertIn("Sem --tls", result.stderr)
        self.assertNotIn("Traceback", result.stderr)


class TlsStartTest(unittest.TestCase):
    def run_server(self, *args: str) -> subprocess.CompletedProcess[str]:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        return subprocess.run(
            [*PYTHON, str(SERVER), "--host", "127.0.0.1", "--port", "0", *args],
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


class ClientHandshakeTest(unittest.TestCase):
    """:func:`batchat.client.link.open_link` against tiny TLS servers played by the test."""

    def serve_once(self, serve: Callable[[socket.socket], None]) -> tuple[str, int]:
        """A listener on a free loopback port whose first connection goes to ``serve``."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(TIMEOUT)

        def run() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(TIMEOUT)
                serve(connection)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.addCleanup(thread.join, TIMEOUT)
        host, port = listener.getsockname()[:2]
        return host, port

    def test_a_greeting_sent_with_the_servers_last_handshake_flight_is_read(self) -> None:
        def serve(connection: socket.socket) -> None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(TLS_CERT, TLS_KEY)
            context.maximum_version = ssl.TLSVersion.TLSv1_2  # the server speaks last in 1.2
            endpoint = tls_bytes.TlsEndpoint(context, server_side=True)
            while not endpoint.handshake():
                connection.sendall(endpoint.take_output())
                endpoint.feed(connection.recv(65536))
            connection.sendall(endpoint.take_output() + endpoint.encrypt(b"BATCHAT 1 Bem-vindo\n"))
            connection.recv(1)  # until the client hangs up

        link = client_link.open_link(self.serve_once(serve), trusting())
        self.addCleanup(link.close)
        link.sock.settimeout(TIMEOUT)  # a lost greeting fails here instead of hanging
        self.assertEqual(link.receive(threading.Lock()), b"BATCHAT 1 Bem-vindo\n")

    def test_a_server_that_trickles_its_handshake_is_given_up_on(self) -> None:
        def serve(connection: socket.socket) -> None:
            connection.recv(65536)  # the ClientHello
            connection.sendall(b"\x16\x03\x03\x40\x00")  # a 16 KiB record announced...
            for _ in range(200):  # ...then a byte every 50 ms: each read waits little
                time.sleep(0.05)  # the pace of a deliberately slow server, not synchronisation
                try:
                    connection.sendall(b"\x00")
                except OSError:
                    return  # the client gave up

        address = self.serve_once(serve)
        started = time.monotonic()
        with mock.patch.object(client_link, "CONNECT_TIMEOUT", 0.5), self.assertRaises(TimeoutError):
            client_link.open_link(address, trusting())
        self.assertLess(time.monotonic() - started, 3, "one deadline for the whole handshake")

"""The server options issue 20 added: ``--log-file`` (end to end, with a real servidor.py,
and its rotation in process) and ``--espera-expulsao`` (parsed into ``Limits.kick_wait``)."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import unittest
from pathlib import Path

from batchat.server import log_file
from batchat.server.options import limits_from, parse_arguments
from tests.support import PYTHON, SERVER, TEST_HASH_COST, TIMEOUT, ServerProcess, temporary_folder

READY = "Servidor BatChat pronto em"


class LogFileTest(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = temporary_folder(self)
        self.users_path = self.folder / "users.json"

    def serve(self, log_path: Path) -> ServerProcess:
        server = ServerProcess(self.users_path, "--log-file", str(log_path))
        self.addCleanup(server.kill)
        server.wait_ready()
        return server

    def test_the_log_also_goes_to_the_file_in_utf8(self) -> None:
        log_path = self.folder / "aula.log"
        server = self.serve(log_path)
        text = log_path.read_text("utf-8")
        self.assertIn(READY, text, "in the file by the time stderr shows it")
        self.assertIn("Só conexões desta máquina", text)
        self.assertEqual(server.stop(), 0)
        self.assertIn("Servidor encerrado.", log_path.read_text("utf-8"))

    def test_a_log_file_that_cannot_be_written_refuses_the_start(self) -> None:
        path = self.folder / "nao-existe" / "aula.log"
        result = subprocess.run(
            [*PYTHON, str(SERVER), "--host", "127.0.0.1", "--port", "0", "--hash-cost", TEST_HASH_COST,
             "--users", str(self.users_path), "--log-file", str(path)],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        (sentence,) = result.stderr.splitlines()
        self.assertIn(f"CRITICAL Não foi possível gravar o log em {path}: a pasta {path.parent} não existe", sentence)
        self.assertEqual(sorted(p.name for p in self.folder.iterdir()), [], "nothing created")

    def test_a_folder_is_no_log_file(self) -> None:
        with self.assertRaises(log_file.LogFileError) as raised:
            log_file.open_log_file(self.folder)
        self.assertIn(f"Não foi possível gravar o log em {self.folder} (", str(raised.exception))
        self.assertIn("--log-file", str(raised.exception))

    def test_a_restart_appends(self) -> None:
        path = self.folder / "aula.log"
        for day in ("ontem", "hoje"):
            handler = log_file.open_log_file(path)
            handler.emit(logging.makeLogRecord({"msg": f"aula de {day}"}))
            handler.close()
        self.assertEqual(path.read_text("utf-8").splitlines(), ["aula de ontem", "aula de hoje"])

    def test_rotated_by_size_keeping_three(self) -> None:
        path = self.folder / "aula.log"
        handler = log_file.open_log_file(path, max_bytes=100)
        self.addCleanup(handler.close)
        logger = logging.getLogger("tests.rotation")
        logger.propagate = False
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        for number in range(20):
            logger.warning("linha %02d com acentuação: %s", number, "x" * 40)
        names = sorted(p.name for p in self.folder.iterdir())
        self.assertEqual(names, ["aula.log", "aula.log.1", "aula.log.2", "aula.log.3"])
        self.assertIn("linha 19", path.read_text("utf-8"))
        for name in names:
            self.assertLessEqual((self.folder / name).stat().st_size, 100)


class KickWaitOptionTest(unittest.TestCase):
    def test_parsed_into_the_limits_default_five_minutes(self) -> None:
        cases = {(): 300, ("--espera-expulsao", "2h"): 7200, ("--espera-expulsao", "30S"): 30}
        for argv, seconds in cases.items():
            with self.subTest(argv=argv):
                self.assertEqual(limits_from(parse_arguments(list(argv))).kick_wait, seconds)

    def test_a_bad_duration_is_refused_with_what_is_valid(self) -> None:
        for word in ("0s", "5", "SEMPRE", "366d", "1h30m"):
            with self.subTest(word=word):
                stderr = io.StringIO()
                with self.assertRaises(SystemExit), contextlib.redirect_stderr(stderr):
                    parse_arguments(["--espera-expulsao", word])
                self.assertIn("--espera-expulsao", stderr.getvalue())
                self.assertIn("como 30s, 10m, 2h ou 1d", stderr.getvalue())

    def test_help_states_both_options_and_the_default_wait(self) -> None:
        stdout = io.StringIO()
        with self.assertRaises(SystemExit), contextlib.redirect_stdout(stdout):
            parse_arguments(["--help"])
        help_text = " ".join(stdout.getvalue().split())
        self.assertIn("--log-file ARQUIVO", help_text)
        self.assertIn("--espera-expulsao DURAÇÃO", help_text)
        self.assertIn("(padrão: 5m)", help_text)


if __name__ == "__main__":
    unittest.main()

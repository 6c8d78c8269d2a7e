"""The suite's second process (:mod:`tests.parallel`): what the main run learns from it.

State layer: a real worker process runs a small made-up module, and the
stand-ins report its outcomes into a plain ``unittest.TestResult``.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import unittest
from pathlib import Path
from unittest import mock

from tests import parallel

MADE_UP_MODULE = textwrap.dedent('''
    import os
    import unittest


    class Skipped(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise unittest.SkipTest("sem pty aqui")

        def test_a(self):
            pass


    class Broken(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            raise RuntimeError("a preparação quebrou")

        def test_b(self):
            pass


    class Fine(unittest.TestCase):
        def test_c(self):
            pass


    class Dies(unittest.TestCase):
        def test_d(self):
            os._exit(3)
''')


@unittest.skipUnless(os.name == "posix", "o processo paralelo só existe em POSIX")
class WorkerOutcomesTest(unittest.TestCase):
    def test_set_up_skips_and_failures_and_a_dying_worker_each_reach_the_main_run(self) -> None:
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        Path(folder.name, "made_up_for_parallel.py").write_text(MADE_UP_MODULE, encoding="utf-8")
        ids = [f"made_up_for_parallel.{name}" for name in ("Skipped.test_a", "Broken.test_b", "Fine.test_c", "Dies.test_d")]
        with mock.patch.dict(os.environ, PYTHONPATH=folder.name):
            worker = parallel.Worker(ids)
        self.addCleanup(worker.stop)
        result = unittest.TestResult()
        for test_id in ids:
            parallel.WorkerTest(worker, test_id, test_id, None, last=test_id.endswith("test_d")).run(result)

        self.assertEqual([(test.id(), reason) for test, reason in result.skipped],
                         [("made_up_for_parallel.Skipped.test_a", "sem pty aqui")])
        errors = [(test.id().removesuffix(parallel.PARALLEL_MARK), text) for test, text in result.errors]
        expected = [("Broken.test_b", "a preparação quebrou"), ("Dies.test_d", "terminou antes"),
                    ("Dies.test_d", "terminou com o código 3")]
        # Each once: the set-up failure as test_b's, not again among the leftovers.
        self.assertEqual(len(errors), len(expected), errors)
        for (test_id, text), (name, words) in zip(errors, expected):
            self.assertEqual(test_id, f"made_up_for_parallel.{name}")
            self.assertIn(words, text)
        self.assertEqual(result.testsRun, 4)
        self.assertEqual(result.failures, [])

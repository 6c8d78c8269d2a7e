"""How ``python3 -m unittest`` runs the whole suite (``tests/__init__.py`` hands over here).

Discovery of the package: every test module, then one last check, then one line,
at the end, saying how many ran and which long ones were left to CI (see
``tests.support.long_test``). The mostly-waiting modules run meanwhile in a second
process (:mod:`tests.parallel`), with their own last check. ``python3 -m unittest tests.test_x`` loads that
module alone and prints no such line.

Every lock the tests make, and every lock of the servers and clients they
start, checks the tier rule (:mod:`batchat.locks`): a lock taken out of order
raises, and is recorded for the check that runs after every other test.
"""

from __future__ import annotations

import atexit
import os
import sys
import unittest
from pathlib import Path

from batchat import locks

os.environ[locks.CHECK_VARIABLE] = "1"  # inherited by every servidor.py and cliente.py started here
locks.check_lock_order()


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None) -> unittest.TestSuite:
    """Every test module, then the check that no lock was taken out of order, in a suite
    that keeps its result for the summary."""
    tests.addTests(loader.discover(str(Path(__file__).parent), pattern or "test*.py"))
    from tests.test_layers import LockOrderAtTheEnd

    tests.addTest(LockOrderAtTheEnd("check_no_lock_was_taken_out_of_order"))
    from tests.parallel import split

    return _SummarisedSuite([split(tests)])


class _SummarisedSuite(unittest.TestSuite):
    """Runs its tests, then has the summary line printed as the process exits (after
    unittest's own "Ran N tests ... OK")."""

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        result = super().run(result, debug)
        atexit.register(print_summary, result)
        return result


def print_summary(result: unittest.TestResult) -> None:
    """One line, in Portuguese, on stderr as unittest's own report."""
    from tests.support import LONG_TESTS, LONG_TEST_REASON

    long_ones = [test for test, reason in result.skipped if reason == LONG_TEST_REASON]
    others = len(result.skipped) - len(long_ones)
    count = result.testsRun - len(result.skipped)
    line = "Resumo: 1 teste rodou" if count == 1 else f"Resumo: {count} testes rodaram"
    if others:
        line += " (1 pulado" if others == 1 else f" ({others} pulados"
        line += " por falta de algo nesta máquina)"
    if long_ones:
        names = ", ".join(".".join(test.id().split(".")[-2:]) for test in long_ones)
        left = "1 longo ficou" if len(long_ones) == 1 else f"{len(long_ones)} longos ficaram"
        line += f"; {left} para o CI ({LONG_TESTS}=1 os roda): {names}"
    elif os.environ.get(LONG_TESTS) == "1":
        line += f", os longos entre eles ({LONG_TESTS}=1)"
    print(f"{line}.", file=sys.stderr)

"""BatChat's tests. ``python3 -m unittest`` finds them all through :func:`load_tests`,
which also says, in one line at the end, how many ran and which long ones were left
to CI (see ``tests.support.long_test``). ``python3 -m unittest tests.test_x`` loads
that module alone and prints no such line.
"""

from __future__ import annotations

import atexit
import sys
import unittest
from pathlib import Path


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None) -> unittest.TestSuite:
    """Discovery of the package: every test module, in a suite that keeps its result."""
    tests.addTests(loader.discover(str(Path(__file__).parent), pattern or "test*.py"))
    return _SummarisedSuite([tests])


class _SummarisedSuite(unittest.TestSuite):
    """Runs its tests, then has the summary line printed as the process exits (after
    unittest's own "Ran N tests ... OK")."""

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:
        result = super().run(result, debug)
        atexit.register(print_summary, result)
        return result


def print_summary(result: unittest.TestResult) -> None:
    from tests.support import LONG_TESTS, LONG_TEST_REASON

    long_ones = [test for test, reason in result.skipped if reason == LONG_TEST_REASON]
    others = len(result.skipped) - len(long_ones)
    ran = f"{result.testsRun - len(result.skipped)} testes rodaram"
    if others:
        ran += f" ({others} pulados por falta de algo nesta máquina)"
    if long_ones:
        names = ", ".join(f"{type(test).__name__}.{test._testMethodName}" for test in long_ones)
        left = f"{len(long_ones)} longos ficaram para o CI ({LONG_TESTS}=1 os roda): {names}"
    else:
        left = f"os longos também ({LONG_TESTS}=1)"
    print(f"Resumo: {ran}; {left}.", file=sys.stderr)

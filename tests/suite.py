"""How ``python3 -m unittest`` runs the whole suite (``tests/__init__.py`` hands over here).

Every lock the tests make, and every lock of the servers and clients they
start, checks the tier rule (:mod:`batchat.locks`): a lock taken out of order
raises, and is recorded for the check that runs after every other test.
"""

from __future__ import annotations

import os
import unittest

from batchat import locks

os.environ[locks.CHECK_VARIABLE] = "1"  # inherited by every servidor.py and cliente.py started here
locks.check_lock_order()


def load_tests(loader: unittest.TestLoader, standard_tests: unittest.TestSuite, pattern: str | None) -> unittest.TestSuite:
    """The whole suite, then one last check: no lock was taken out of order anywhere in it."""
    here = os.path.dirname(__file__)
    standard_tests.addTests(loader.discover(start_dir=here, pattern=pattern or "test*.py"))
    from tests.test_layers import LockOrderAtTheEnd

    standard_tests.addTest(LockOrderAtTheEnd("check_no_lock_was_taken_out_of_order"))
    return standard_tests

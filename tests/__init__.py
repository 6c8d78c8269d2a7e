"""BatChat's tests (``python3 -m unittest``); docs/testes.md says what each file covers.

Every lock the tests make, and every lock of the servers and clients they
start, checks the tier rule (:mod:`batchat.locks`): a lock taken out of order
raises, and is recorded for the check at the end of the suite.
"""

import os

from batchat import locks

os.environ[locks.CHECK_VARIABLE] = "1"  # inherited by every servidor.py and cliente.py started here
locks.check_lock_order()


def load_tests(loader, standard_tests, pattern):  # type: ignore[no-untyped-def]
    """The whole suite, then one last check: no lock was taken out of order anywhere in it."""
    here = os.path.dirname(__file__)
    standard_tests.addTests(loader.discover(start_dir=here, pattern=pattern or "test*.py"))
    from tests.test_layers import LockOrderAtTheEnd

    standard_tests.addTest(LockOrderAtTheEnd("check_no_lock_was_taken_out_of_order"))
    return standard_tests

# -*- coding: utf-8 -*-
"""BatChat's tests: ``python3 -m unittest``, from the repository's folder, runs them all.

unittest imports this package before any test module in it. On a Python too
old for BatChat, it ends the run right here with the one sentence the
programs say (``batchat/version_check.py``), instead of a SyntaxError for
every test module. It ends with ``os._exit``: unittest's loader catches
anything else (``SystemExit`` included) and would report a failed import,
traceback and all, after the sentence.

So this file, like ``servidor.py`` and ``cliente.py``, is written in syntax
every Python reads (2.7 included): no f-strings, no annotations, no
``from __future__ import annotations``. Anything else belongs in another
module, imported below the check.
"""

import os

from batchat.version_check import require_supported_python

require_supported_python(end=os._exit)

from tests.suite import load_tests  # noqa: E402,F401  (after the check: the whole suite, then the lock check)

# -*- coding: utf-8 -*-
"""Refuse, in one Portuguese sentence, a Python too old for BatChat.

Called first by the entry points (servidor.py, cliente.py) and by the test
package (tests/__init__.py, for ``python3 -m unittest``), before anything
else of BatChat is imported: the rest uses syntax (``match``, ``X | Y``) that
an older Python cannot even read, and would stop with a SyntaxError. So this
file, like the entry points, is written in syntax every Python reads, 2.7
included: no f-strings, no annotations.
"""

import sys

MINIMUM = (3, 10)


def require_supported_python(end=sys.exit):
    """Exit with status 2 and one line on stderr when this Python is older than MINIMUM.

    ``end`` ends the process with that status. ``os._exit`` where a caller up
    the stack would catch ``SystemExit`` and go on: unittest's loader turns
    any exception an imported test package raises into a failed test, and
    would print that test's traceback after the sentence (see tests/__init__.py).
    """
    if sys.version_info >= MINIMUM:
        return
    sys.stderr.write(
        "O BatChat precisa do Python %d.%d ou mais novo, e este é o %d.%d; veja a versão com "
        "python3 --version (no Windows: py --version) e instale uma mais nova em python.org.\n"
        % (MINIMUM + tuple(sys.version_info[:2]))
    )
    sys.stderr.flush()  # os._exit does not flush
    end(2)

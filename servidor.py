"""BatChat's server. Run ``python3 servidor.py``; ``python3 servidor.py --help`` lists the options.

The server lives in ``batchat/`` (``batchat/server/main.py`` starts it). This file
first checks the Python version, in syntax any Python reads: an older one
gets a sentence saying what to install, not a SyntaxError from the rest.
"""

import sys

from batchat.version_check import require_supported_python

require_supported_python()

from batchat.server.main import main  # noqa: E402  (only once the version is known to be enough)

if __name__ == "__main__":
    sys.exit(main())

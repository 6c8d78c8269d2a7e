"""BatChat's terminal client. Run ``python3 cliente.py``; ``--help`` lists the options.

The client lives in ``batchat/`` (``batchat/client/main.py`` starts it). This file
first checks the Python version, in syntax any Python reads: an older one
gets a sentence saying what to install, not a SyntaxError from the rest.
"""

from batchat.version_check import require_supported_python

require_supported_python()

from batchat.client.main import run_and_exit  # noqa: E402  (only once the version is known to be enough)

if __name__ == "__main__":
    run_and_exit()

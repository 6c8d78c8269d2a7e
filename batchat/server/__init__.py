r"""The BatChat server: ``python3 servidor.py`` calls :func:`batchat.server.main.main`.

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down (``tests/test_layers.py`` checks it)::

    main -> options, read_loop -> session -> chat -> teaching -> delivery -> registry -> connection -> presence
                                          \-> accounts (users_file), mailbox, moderation, limits, storage,
                                              tls_handshake, ending; main -> appointment (--professor)
                  every module that sends -> replies (the one place that encodes server lines)

Locks: every lock is made by :func:`batchat.locks.tiered_lock` with its tier
from :mod:`batchat.server.tiers`, where the table and the rule are written
once; the tests check the rule at every acquisition.

Reads that skip a lock are listed once, each with why it is safe and which
locked step checks it again, in :mod:`batchat.server.tiers`.
"""

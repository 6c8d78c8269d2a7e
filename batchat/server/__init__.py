r"""The BatChat server: ``python3 servidor.py`` calls :func:`batchat.server.main.main`.

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down (``tests/test_layers.py`` checks it)::

    main -> read_loop -> session -> delivery -> registry -> connection -> presence
                                \-> accounts, mailbox, limits, storage, tls_handshake, ending

Locks: every lock is made by :func:`batchat.locks.tiered_lock` with its tier
from :mod:`batchat.server.tiers`, where the table and the rule are written
once; the tests check the rule at every acquisition.

Two reads skip the locks because every message makes them: the registry's
``find`` (one ``dict.get``) and a connection's presence catch-up (see
:class:`batchat.server.presence.PresenceJournal`). Each owner says why that is safe
with the GIL and in free-threaded CPython.
"""

"""The BatChat terminal client: ``python3 cliente.py`` calls :func:`batchat.client.main.run_and_exit`.

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down (``tests/test_layers.py`` checks it)::

    main -> threads -> state -> events, states; threads -> flow, screen, link, terminal -> render, typed

Locks: the client has two, made by :func:`batchat.locks.tiered_lock` with their
tiers from :mod:`batchat.client.tiers`, where they and the client's own rule
(its send lock is held across a blocking ``sendall`` on purpose) are written.
"""

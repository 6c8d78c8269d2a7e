"""The BatChat terminal client: ``python3 cliente.py`` calls :func:`batchat.client.main.run_and_exit`.

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down (``tests/test_layers.py`` checks it)::

    main -> threads -> state, flow, screen, link, terminal -> render, typed

The client has two locks of its own (``batchat.client.threads``): the send lock, tier
1, which orders the two threads' sends and guards the protocol state (it is
held across ``sendall`` on purpose: it *is* the order of the writes), and the
screen's lock, tier 2, one line on the terminal at a time.
"""

"""BatChat's code beside the three entry points (servidor.py, cliente.py, protocol.py).

Three wings, and imports only go down, never up, never sideways between the
two programs, never in a cycle (``tests/test_layers.py`` checks it)::

    servidor.py -> batchat/server/   the server: one thread per connection, the chat rules, storage
    cliente.py  -> batchat/client/   the terminal client: a sans-I/O state, threads, the screen
    both        -> batchat/*.py      what both programs use: prices (what a line costs), formatting
                                     (how server lines are written), framing,
                                     tls_bytes, cli, portable, locks, version_check; and protocol.py
                                     (the grammar)

Neither wing imports the other: a student can read the server without the
client, and the other way round. Each module owns one thing and says so in
its docstring, with who may call it.
"""

"""BatChat's modules beside the three entry points (servidor.py, cliente.py, protocol.py).

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down, never up and never in a cycle::

    servidor.py  -> server -> reader -> session -> delivery -> registry -> connection -> presence
                                              \\-> accounts, mailbox, limits, storage, tls
    cliente.py   -> client_main -> client -> client_state, flow, screen, link -> render, typed
    everything   -> protocol (the grammar), framing, tls_endpoint, ending, cli, system
    session, client_state, flow, render -> prices (what a line costs) -> protocol

Lock tiers (the server)
-----------------------
Every lock carries a ``# tier N`` comment. The rule: **a thread holding a lock
of tier N takes only locks of a higher tier**; and no blocking socket I/O,
disk I/O or password hashing happens under any lock of tiers 1 to 4.

====  ==========================================  =========================================
tier  lock                                        guards
====  ==========================================  =========================================
0     ``UserStore._write_lock``, the hash turns   the *order* of users.json writes, and the
      (``OneAtATime``, ``UserStore._hash_slots``) queue for scrypt: queues, not state. They
                                                  are held across the write or the hash on
                                                  purpose, and never taken under tiers 1-4.
1     ``Delivery._lock``                          the step "kept messages into the outbox,
                                                  then visible to the others" at a login
2     ``SessionRegistry._lock``                   connections, names online, the history,
                                                  the presence journal's appends
3     ``Connection._lock``                        one socket's outbox, counters and TLS
                                                  session; the one socket call under a lock
                                                  is this connection's *non-blocking* send,
                                                  which never waits for the network and is
                                                  what keeps its lines in order
4     ``Mailbox._lock``, ``UserStore._lock``,     their owner's dicts and counters; leaves:
      ``RateLimiter._lock``, ``OneAtATime._lock`` nothing else is taken while one is held
====  ==========================================  =========================================

Two reads skip the locks because every message makes them: the registry's
``find`` (one ``dict.get``) and a connection's presence catch-up (see
:class:`batchat.presence.PresenceJournal`). Each owner says why that is safe
with the GIL and in free-threaded CPython.

The client has two locks of its own (``batchat.client``): the send lock, tier
1, which orders the two threads' sends and guards the protocol state (it is
held across ``sendall`` on purpose: it *is* the order of the writes), and the
screen's lock, tier 2, one line on the terminal at a time.
"""

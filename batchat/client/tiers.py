"""The client's lock tiers: its two locks, in the one order they may be taken.

Owns nothing at run time. The client's rule is not the server's: the server
never blocks under a lock that guards state, while the client's send lock is
held across a blocking ``sendall`` on purpose, because it *is* the order of
the writes (the keyboard thread and the sending thread both send, and an
automatic ``ENTRAR`` after a reconnection must go first). The ordering rule is
the same one :mod:`batchat.locks` checks under the tests: a thread holding a
lock of tier N takes only locks of a higher tier.

====  ==========================  ===================================================
tier  lock                        guards
====  ==========================  ===================================================
1     ``ChatClient._send_lock``   the order of what goes out on the socket, the
      ("envio do cliente")        queue of typed lines and the protocol state
                                  (:class:`batchat.client.state.ClientState`); held
                                  across ``sendall``. Its conditions wait on it.
2     ``PlainScreen._lock``       one line on the terminal at a time; a leaf:
      ("tela")                    nothing is taken while it is held
====  ==========================  ===================================================
"""

SEND = 1
SCREEN = 2

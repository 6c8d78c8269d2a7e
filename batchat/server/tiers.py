"""The server's lock tiers: every lock of the server, in the one order they may be taken.

Owns nothing at run time; every server module that makes a lock names its
tier from here (``tiered_lock(tiers.CONNECTION, "Connection")``). The rule,
checked under the tests by :mod:`batchat.locks`: **a thread holding a lock of
tier N takes only locks of a higher tier.** Two threads that obey it can
never wait for each other in a circle.

Tiers 1 to 3 are queues, not state: they are held across slow work on
purpose (a password hash, the write of users.json), and the rule keeps them
from ever being taken under a state lock. Tiers 4 to 7 guard state: under
them, no blocking socket I/O, no disk I/O, no hashing. The one socket call
under a lock is a connection's *non-blocking* send, under its own lock
(tier 6): it never waits for the network, and it is what keeps that
connection's lines in order.

====  =================================  ==================================================
tier  lock                               guards
====  =================================  ==================================================
1     a ``OneAtATime`` turn              one hash in flight per address (a queue)
2     ``UserStore._hash_slots``          how many hashes run at once (a queue for scrypt)
3     ``UserStore._write_lock``          the order of the users.json writes
4     ``Delivery._lock``                 "kept messages into the outbox, then visible to
                                         the others", one step at a login
5     ``SessionRegistry._lock``          connections, names online, the history, the
                                         presence journal's appends
6     ``Connection._lock``               one socket's outbox, counters and TLS session
7     ``Mailbox._lock``,                 their owner's dicts and counters. Leaves: nothing
      ``UserStore._lock``,               else is taken while one is held
      ``RateLimiter._lock``,
      ``OneAtATime._lock``
====  =================================  ==================================================
"""

NAME_TURN = 1
HASH_SLOTS = 2
USERS_FILE = 3
DELIVERY = 4
REGISTRY = 5
CONNECTION = 6
LEAF = 7

"""The server's lock tiers: every lock of the server, in the one order they may be taken.

Owns nothing at run time; every server module that makes a lock names its
tier from here (``tiered_lock(tiers.CONNECTION, "Connection")``). The rule,
checked under the tests by :mod:`batchat.locks`: **a thread holding a lock of
tier N takes only locks of a higher tier.** Two threads that obey it can
never wait for each other in a circle.

Tiers 1 to 3 are queues, not state: they are held across slow work on
purpose (a password hash, the write of users.json, a commit of
moderacao.sqlite3), and the rule keeps them
from ever being taken under a state lock. Tiers 4 to 7 guard state: under
them, no blocking socket I/O, no disk I/O, no hashing. The one socket call
under a lock is a connection's *non-blocking* send, under its own lock
(tier 6): it never waits for the network, and it is what keeps that
connection's lines in order. Two more things happen under that lock on
purpose: TLS encryption (the records must enter the stream in the order of
their lines) and starting the writer thread (published only once started;
the start waits for no network).

====  =================================  ==================================================
tier  lock                               guards
====  =================================  ==================================================
1     a ``OneAtATime`` turn              one hash in flight per address (a queue)
2     ``UserStore._hash_slots``          how many hashes run at once (a queue for scrypt)
3     ``UserStore._write_lock``,         the order of the users.json writes, and of the
      ``Moderation._write_lock``         moderacao.sqlite3 commits (never one under the other)
4     ``Delivery._lock``                 "kept messages into the outbox, then visible to
                                         the others", one step at a login
5     ``SessionRegistry._lock``          connections, names online, the history, the
                                         presence journal's appends
6     ``Connection._lock``               one socket's outbox, counters and TLS session
7     ``Mailbox._lock``,                 their owner's dicts and counters. Leaves: nothing
      ``UserStore._lock``,               else is taken while one is held
      ``Moderation._lock``,
      ``RateLimiter._lock``,
      ``GuessThrottle._lock``,
      ``RoomStore._lock``, ``GroupCommitWriter._lock``,
      ``RoomService.replayed``,
      ``OneAtATime._lock``
====  =================================  ==================================================

Unlocked reads
--------------

Every read of shared state that skips its owner's lock is listed here, once,
with why it is safe. Each is atomic (one attribute read, one ``dict.get``,
one ``len``, one ``list(d.values())``: a single C call, under the GIL, and in
free-threaded CPython under the object's own per-object lock), so it sees a
state before or after a concurrent write, never a torn one; and each only
feeds a *hint* that a locked step checks again (or, for 3 and 10, a price
or a pass that is fine either way). A stale answer costs a retry or a
shortcut missed, never a message lost or sent twice.

1. ``SessionRegistry.find`` (``_by_name.get``), on every CHAT: the session
   found may be leaving. Checked again by ``Connection.enqueue`` under the
   connection's lock (tier 6), which refuses a closing connection; a refused
   private message goes back to the mailbox (``Batch`` → ``Receipts``).
2. ``SessionRegistry.find_online`` / ``connection_of``: ``session.name``
   (set once by the session's own thread before the session is findable) and
   ``Connection.accepting`` (item 6). Same re-check as 1; in
   ``Delivery._deliver_if_online`` a refusal puts the messages back.
3. ``SessionRegistry.online_count`` (``len(_by_name)``), for the price of a
   TODOS: only the flood price; the recipients are picked by 4.
4. ``SessionRegistry.broadcast`` without history (``list(_by_name.values())``):
   each recipient's ``enqueue`` checks under its lock; someone logging in at
   that moment may miss the message, as if it were sent just before (with a
   history kept, the pick is under the registry's lock, tier 5, so each
   newcomer gets it once, live or replayed).
5. ``SessionRegistry.deliver_presence``'s ``list(_by_name.values())`` and its
   ``_presence.kept`` test: each ``pull_feed`` takes the connection's lock;
   a session missed catches up at its next enqueue or pass; forgetting old
   notices happens under the registry's lock.
6. ``Connection.accepting`` (``not _closing``), read by the session before
   each line and by 2: ``enqueue``, ``pull_feed`` and ``decrypt`` check
   ``_closing`` again under the connection's lock.
7. ``Connection.pull_feed``'s shortcut (``_feed`` and ``PresenceCursor.ready``:
   ``seen < journal.end``): ``_take_feed_locked`` runs ``take``, which checks
   again, under the connection's lock.
8. ``PresenceJournal.end`` and ``since``, read by ``PresenceCursor.take`` under
   a *connection's* lock, not the registry's, which guards the appends:
   ``_state`` is replaced whole and its list only grows, so a reader sees a
   prefix; a notice appended a moment later is taken at the next catch-up.
9. ``SessionRegistry.keeps_history`` (``_history.maxlen``): fixed at start.
10. ``Connection.decrypt``'s ``_tls is None``: ``_tls`` is set by the reader
    thread itself (``use_tls``) before it reads; every other use is under
    the connection's lock.
11. ``SessionRegistry.connections_online`` (``list(_by_name.items())``), for a
    room's notice to everyone online (a topic of #geral): as 4, without history.
    A room's members online (``RoomService``) are found with 2 from the
    ``RoomStore``'s copy of the members, taken under its own leaf lock.
12. ``Moderation.quiet``, on every TODOS, CHAT and FALA: one attribute, set
    under the moderation lock in the same step as the memory it sums up, before
    the teacher's ``OK``. A message checked after that ``OK`` sees it; one
    checked a moment before passes, as if sent before the sanction.
"""

NAME_TURN = 1
HASH_SLOTS = 2
USERS_FILE = 3
MODERATION_FILE = 3  # a queue held across a commit, like USERS_FILE; neither under the other
DELIVERY = 4
REGISTRY = 5
CONNECTION = 6
LEAF = 7

"""The BatChat terminal client: ``python3 cliente.py`` calls :func:`batchat.client.main.run_and_exit`.

Each module owns one thing and says so in its docstring, with who may call
it. Imports only go down (``tests/test_layers.py`` checks it)::

    main -> threads -> state -> privates, teacher_lines, rooms, replay, peer_sentences, events, states;
    threads -> grouping, flow, screen, link, terminal -> render, typed

- ``screen``: the screen, readline and the input history file; ``link``: the
  connection, with TLS; ``state``: the session's protocol state, without I/O
  (its tables in ``states``, its events in ``events``); ``flow``: pacing lines by
  the server's limits, and noticing a silent server; ``typed``: from typed lines
  to what is sent; ``render``: from server lines to what the person reads (and
  which lines show a time); ``privates``: the private lines of the run, for
  ``/privadas`` and ``/r``; ``rooms``: the current room, the rooms known, their
  unread lines and how room lines read; ``grouping``: joins and leaves close together as one line;
  ``threads``: the I/O shell, :class:`~batchat.client.threads.ChatClient`.

Threads
-------
- The main thread connects, receives server lines and turns each into what the
  person reads; when the connection drops without ``SAIR`` it reconnects with
  backoff (1, 2, 4 ... 30 s) and logs back in with the last credentials that
  worked, held in memory only, once the new connection's server has greeted
  it as BatChat.
  It sends ``PING`` after a few seconds without a byte from the server, and
  gives the connection up when that gets no answer either.
  Joins and leaves that come close together are held a moment and shown as
  one line (:mod:`~batchat.client.grouping`): its wait for the network ends
  when such a group is due.
- The keyboard thread reads what the person types, asks for passwords with a
  hidden prompt, answers ``AJUDA``, typos, ``/conversa``, ``/privadas`` and
  ``/sala`` to a room the person is in locally, and queues the rest (``/r`` as the ``CHAT`` it stands for).
- The sending thread sends the queued lines in order, no faster than the
  server's flood limit allows (its ``LIMITES`` line, or its defaults), each
  at its price, so a pasted block arrives whole instead of partly refused; a
  line whose price is a guess (the first ``LISTA TODOS``) goes alone, and the
  next waits for its answer, so that a refusal never lets a later line pass.
  No line waits more than a minute in all; ``/sair`` and Ctrl-D leave at once.

No line that carries a password (``protocol.PASSWORD_COMMANDS``) reaches a
socket before that connection's server sent the BatChat greeting
(:attr:`ClientState.identified`): :meth:`ChatClient._send_locked`, the one
place lines are sent, refuses it, and the sending thread holds typed lines
until then, so the automatic ENTRAR of a reconnection still goes first. A peer
whose first line is no greeting (any program that took the address) gets
nothing more, and the session ends there, without reconnecting.

With readline, lines from the server are printed by the keyboard thread, from
readline's input hook (see :class:`batchat.client.screen.TerminalScreen`);
without it (a pipe, a console without readline) the screen's lock keeps one
line at a time. With ``--tls`` the TLS session is only ever used under the
send lock, since all three threads may touch the connection.

Text from the network is shown with control characters escaped, never
interpreted. Colour follows https://no-color.org: off when ``NO_COLOR`` is set,
``TERM=dumb`` or the output is not a terminal.

Exit status: 0 after ``SAIR``, Ctrl-D, the end of piped input or Ctrl-C (with GNU
readline, twice, the second on an empty line); 1 when the server cannot be reached
at start-up, or the connection ends for good (``--no-reconnect``, or the account
logged in somewhere else), and with piped input when the last ``ENTRAR`` or
``NOVO`` it typed was refused (or never answered): a script knows its login failed.

Locks: the client has two, made by :func:`batchat.locks.tiered_lock` with their
tiers from :mod:`batchat.client.tiers`, where they and the client's own rule
(its send lock is held across a blocking ``sendall`` on purpose) are written.
"""

"""Room names: the rule, their one spelling on the wire, and the room everyone is in.

Owns the room-name rule (``#`` plus the user-name rule of :mod:`protocol`),
:data:`GENERAL` and the functions that turn what someone typed into a room's
name (:func:`room_name`) or its identity (:func:`room_key`). Pure: no I/O, no
state. Called by both programs: the server's rooms (``batchat.server.rooms``)
and chat rules, and the client (its prompt and its completion of room names).

The ``#`` is optional on input (``SALA ENTRAR grupo1`` and ``SALA ENTRAR #grupo1``
are the same) and always present in what comes out. Like a user name, a room
name keeps the capitals it was typed with, and its identity ignores them:
``#Grupo1`` and ``#grupo1`` are one room.
"""

from __future__ import annotations

import protocol
from protocol import ProtocolError

PREFIX = "#"
GENERAL = "#geral"  # everyone is always in it; it is its own key
MAX_ROOM_NAME_LENGTH = len(PREFIX) + protocol.MAX_NAME_LENGTH
BAD_ROOM_NAME = (
    f"Nome de sala inválido: use # e de 1 a {protocol.MAX_NAME_LENGTH} letras, dígitos, '_', '-' ou '.'."
)


class InvalidRoomName(ValueError):
    """Text that is not a room name; its message is a sentence for the person who typed it."""


def room_name(text: str) -> str:
    """The room's name for ``text``, typed with or without its ``#``: ``#`` plus the name in
    NFC, capitals kept. Raises :class:`InvalidRoomName` (a ``ValueError``) for anything else."""
    bare = text[len(PREFIX):] if text.startswith(PREFIX) else text
    try:
        return PREFIX + protocol.validate_name(bare)
    except ProtocolError:
        raise InvalidRoomName(BAD_ROOM_NAME) from None


def room_key(text: str) -> str:
    """The identity of the room ``text`` names (as :func:`room_name` takes it): ``#`` plus the
    name's key, so ``#Grupo1`` and ``grupo1`` give ``#grupo1``. Raises as :func:`room_name`."""
    return PREFIX + protocol.name_key(room_name(text)[len(PREFIX):])


def is_general(text: str) -> bool:
    """Whether ``text`` names :data:`GENERAL` (any spelling); raises as :func:`room_name`."""
    return room_key(text) == GENERAL

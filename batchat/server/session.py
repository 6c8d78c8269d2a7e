"""One client's protocol state: parse, call the chat service, format the reply.

Owns :class:`ChatSession` (logged in or not, as whom, its flood budget, the
batch its lines produce until they are sent, whether it must change a one-time
password first). Each line goes parse (:mod:`batchat.parsing`) → check access
(the command table; a teacher's command, ``SEM_PERMISSAO`` for a student) →
call :class:`batchat.server.chat.ChatService` or, for a teacher's command,
:class:`batchat.server.teaching.TeachingService`, or, for the rooms' (``SALAS``, ``SALA``,
``FALA``), :class:`batchat.server.room_rules.RoomService`, which own the rules → turn
the result into a reply (:mod:`batchat.server.replies`) in the batch. What a line
costs is :func:`batchat.prices.line_price`, the formula the client paces by
too. Called by the server's connection threads: one session per connection,
used by that thread only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import protocol
from protocol import ErrorCode, ProtocolError
from batchat import formatting, parsing, prices, rooms_names
from batchat.server import replies
from batchat.server.chat import REPLACED, ServerContext
from batchat.server.connection import Connection
from batchat.server.delivery import Batch
from batchat.server.ending import Closer, SessionEnded
from batchat.framing import LineTooLong
from batchat.server.limits import limit_error, TokenBucket
from batchat.server.moderation import Kind
from batchat.server.registry import ClaimLost
from batchat.server.room_rules import RoomService

__all__ = ["ChatSession", "ServerContext"]

LIST_CHUNK = 1000  # USUARIO lines per send in the answer to LISTA TODOS


class ChatSession:
    """The protocol state of one connection, and the handler of its commands."""

    def __init__(self, connection: Connection, context: ServerContext) -> None:
        self.connection = connection
        self.name: str | None = None  # set once logged in
        self.failed_logins = 0  # wrong passwords on this connection: its place in an account's line
        self._chat = context.chat
        self._teaching = context.teaching
        self._rooms = context.rooms_service
        self._clock = context.clock
        self._limits = context.limits
        self._replaced = threading.Event()  # set by the registry on a newer login
        self._flood = TokenBucket(self._limits.flood_rate, self._limits.flood_burst, context.clock())
        self._flood_strikes = 0  # lines refused in a row for flooding
        # Logged in with REDEFINIR's one-time password: only SENHA (and SAIR, AJUDA, PING) until it is replaced.
        self._one_time_password: str | None = None
        # What this session's lines produce, sent once every line of a recv is
        # handled (see handle_lines). Only the session's own reader thread touches it.
        self._batch = Batch(context.delivery)

    def mark_replaced(self) -> None:
        """A newer login of the same account claimed our name: execute nothing more, and
        tell the client why (the newer login then closes our connection, which sends it).

        Called by the registry under its lock, which makes the test and the set
        one step: the line is only queued (the connection's lock, a higher tier), once.
        """
        if self._replaced.is_set():
            return
        self._replaced.set()
        error = ProtocolError(ErrorCode.SESSION_REPLACED, "Sua conta entrou em outra conexão; esta será encerrada.")
        self.connection.enqueue(replies.error(error))

    def handle_lines(self, lines: list[bytes | LineTooLong]) -> None:
        """Handle the lines of one recv, then send what they produced: one send per
        destination. Raises :class:`SessionEnded` when the session must end (what the
        lines before produced is sent all the same)."""
        try:
            for raw in lines:
                if not self.connection.accepting:
                    # No reply can reach the client now: nothing more gets done as if one had.
                    raise SessionEnded(Closer.SERVER, "a conexão já estava sendo fechada")
                self.handle_line(raw)
        finally:
            self._batch.send()

    def handle_line(self, raw: bytes | LineTooLong) -> None:
        """Decode, parse and execute one framed line into the batch; protocol errors become
        ``ERRO`` replies. :meth:`handle_lines` is the read loop's way in.

        Raises :class:`SessionEnded` when the session must end.
        """
        if self._replaced.is_set():
            raise SessionEnded.of(REPLACED)
        if isinstance(raw, bytes) and parsing.is_blank(raw):
            return  # no reply and no cost; nor is it a sign the client stopped flooding
        try:
            self._pay_and_execute(raw)
        except ProtocolError as error:
            self.send_error(error)
            if error.code is ErrorCode.SLOW_DOWN:
                return  # refused unexecuted, at no cost: the strike it added stands
        self._flood_strikes = 0  # a line got through: the client is not flooding

    def _pay_and_execute(self, raw: bytes | LineTooLong) -> None:
        """Parse the line, pay its whole price, then execute it. A line that is no valid
        command costs one token: its ERRO is a reply too. A teacher's command word is
        checked for access first, however malformed the rest: a student gets
        ``SEM_PERMISSAO``, never the command's usage or ``DURACAO_INVALIDA``."""
        line = None
        try:
            if isinstance(raw, LineTooLong):
                raise ProtocolError(
                    ErrorCode.LINE_TOO_LONG,
                    f"Linha longa demais (máximo de {self._limits.max_line} bytes); descartada.",
                )
            line = protocol.decode_line(raw)
            command = parsing.parse_command(line)
        except ProtocolError:
            self._pay(prices.line_price(None, 0, burst=self._limits.flood_burst))
            if line is not None and parsing.is_teacher_word(line):
                self._require_teacher()
            raise
        if command is not None:  # never None: blank lines do not get here
            self._pay(self._price(command))
            self._execute(command)

    def send_error(self, error: ProtocolError) -> None:
        self._batch.add(self.connection, replies.error(error))

    def send_batch(self) -> None:
        """Send what the lines handled since the last send produced, one send per connection."""
        self._batch.send()

    def _price(self, command: protocol.Command) -> int:
        """The flood tokens ``command`` costs now: :func:`batchat.prices.line_price`, with the
        others online for TODOS and the accounts for LISTA TODOS (once logged in:
        before, the command is refused and costs what any line costs)."""
        fan_out = 0
        if self.name is not None and prices.fans_out(command):
            if isinstance(command, protocol.Broadcast):
                fan_out = self._chat.others_online()
            elif isinstance(command, protocol.RoomMessage):
                fan_out = self._room_service().listeners(self.name, command.room)
            elif isinstance(command, protocol.RoomCommand):
                fan_out = len(command.names)
            else:
                fan_out = self._chat.account_count()
        return prices.line_price(command, fan_out, burst=self._limits.flood_burst)

    def _pay(self, price: int) -> None:
        """Spend ``price`` flood tokens for the line being handled, all or none: short,
        the line is refused with ``ERRO DEVAGAR`` (its price, and when it can be paid)
        and costs nothing; a client refused more than the burst in a row is ended."""
        now = self._clock()
        if not self._limits.flood_rate or self._flood.take(price, now):
            return
        self._flood_strikes += 1
        if self._flood_strikes > self._limits.flood_burst:
            self.send_error(limit_error("Você foi desconectado por enviar mensagens demais."))
            raise SessionEnded(Closer.LIMIT, "de mensagens por segundo (--flood-rate)")
        raise prices.slow_down_error(price, self._flood.wait_for(price, now))

    def _execute(self, command: protocol.Command) -> None:
        """Check once whether ``command`` may be used now (the command table says),
        then run its handler."""
        access = protocol.command_help(command).access
        if access is protocol.Access.LOGGED_IN:
            self._require_logged_in()
        elif access is protocol.Access.LOGGED_OUT:
            self._require_logged_out()
        elif access is protocol.Access.TEACHER:
            self._require_teacher()
        if self._one_time_password is not None and type(command) not in _WHILE_CHANGING_PASSWORD:
            raise ProtocolError(
                ErrorCode.MUST_CHANGE_PASSWORD,
                "Você entrou com uma senha provisória: troque-a primeiro com SENHA <provisória> <nova>.",
            )
        _HANDLERS[type(command)](self, command)

    def _list(self, command: protocol.ListUsers) -> None:
        if command.everyone:
            self._list_everyone()
        else:
            self._reply("LISTA", " ".join(self._chat.names_online()))

    def _quit(self, command: protocol.Quit) -> None:
        self._reply("SAIR")
        raise SessionEnded(Closer.CLIENT, "SAIR")

    def _help(self, command: protocol.Help) -> None:
        self._batch.add(self.connection, replies.help_lines(self.name is not None and self._chat.is_teacher(self.name)))
        self._reply("AJUDA")

    def _ping(self, command: protocol.Ping) -> None:
        self._reply("PING")

    def _reply(self, command: str, detail: str = "") -> None:
        self._batch.add(self.connection, replies.ok(command, detail))

    def _require_logged_in(self) -> str:
        """Our name; ``NAO_AUTENTICADO`` before ENTRAR (the command table's "needs login")."""
        if self.name is None:
            raise ProtocolError(
                ErrorCode.NOT_AUTHENTICATED, "Entre primeiro com ENTRAR <usuário> <senha>."
            )
        return self.name

    def _require_teacher(self) -> str:
        """Our name, if we are a teacher now; ``SEM_PERMISSAO`` for a student."""
        name = self._require_logged_in()
        if not self._chat.is_teacher(name):
            raise ProtocolError(ErrorCode.NO_PERMISSION, "Só um professor pode usar esse comando.")
        return name

    def _require_logged_out(self) -> None:
        if self.name is not None:
            raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, f"Você já entrou como {self.name}.")

    def _register(self, command: protocol.Register) -> None:
        self._reply("NOVO", self._chat.register(self, command.name, command.password))

    def _log_in(self, command: protocol.Login) -> None:
        """``ENTRAR``: the kept messages, the history and then ``OK ENTRAR``, which ends
        the reply, reach our outbox before we become visible (see ``ChatService.log_in``).
        Ends the session if a newer login claimed the name while we waited: it told
        our client."""
        account = self._chat.authenticate(self, command.name, command.password)
        registered = account.name
        if account.provisional:
            self._one_time_password = command.password  # SENHA's <atual>, until SENHA replaces it
        try:
            rooms = b"" if self._rooms is None else self._rooms.login_lines(registered)
            reply = rooms + self._teaching.login_notices() + replies.ok("ENTRAR", registered)
            self._chat.log_in(self, registered, self._batch, reply)
        except ClaimLost:
            raise SessionEnded.of(REPLACED) from None
        # A ban or kick given while this login was under way found no session to end:
        # now visible, we look again (the teacher's side wrote it before it looked for us).
        refusal = self._teaching.login_refusal(registered)
        if refusal is not None:
            self.send_error(refusal)
            raise SessionEnded(Closer.SERVER, "punido por um professor durante o login")

    def _send_private(self, command: protocol.PrivateMessage) -> None:
        sender = self._require_logged_in()  # checked already: this only gives the name
        name, kept = self._chat.send_private(self, sender, command.recipient, command.text, self._batch)
        self._batch.add(self.connection, replies.stored_ok(name) if kept else replies.ok("CHAT", name))

    def _broadcast(self, command: protocol.Broadcast) -> None:
        sender = self._require_logged_in()  # checked already: this only gives the name
        self._chat.check_broadcast(sender)
        self._reply("TODOS")  # ours first: the batch sends to us before the others
        self._chat.broadcast(self, sender, command.text, self._batch)

    # --- rooms (issue 21): the rules are RoomService's ---

    def _room_service(self) -> RoomService:
        if self._rooms is None:  # a context built without a rooms' store (some tests)
            raise ProtocolError(ErrorCode.UNAVAILABLE, "Este servidor não tem salas.")
        return self._rooms

    def _list_rooms(self, command: protocol.ListRooms) -> None:
        lines = self._room_service().list_rooms()
        self._batch.add(self.connection, b"".join(lines))
        self._reply("SALAS", str(len(lines)))

    def _room_message(self, command: protocol.RoomMessage) -> None:
        """``FALA``: in #geral, a TODOS (its lines, an ``OK FALA #geral``); elsewhere, on
        disk before its ``OK``, then to the room's other members online."""
        sender = self._require_logged_in()  # checked already: this only gives the name
        rooms = self._room_service()
        if rooms_names.is_general(command.room):
            self._chat.check_broadcast(sender)
            self._reply("FALA", rooms_names.GENERAL)
            self._chat.broadcast(self, sender, command.text, self._batch)
            return
        room, line_id = rooms.speak(sender, command.room, command.text)
        self._reply("FALA", room)  # ours first: the batch sends to us before the others
        rooms.deliver(sender, room, command.text, line_id, self._batch)

    def _room_command(self, command: protocol.RoomCommand) -> None:
        """``SALA <acao> ...``: MOVER is a teacher's (``SEM_PERMISSAO``); the rest the rules decide."""
        name = self._require_teacher() if command.action == "MOVER" else self._require_logged_in()
        rooms, room, batch = self._room_service(), command.room, self._batch
        if command.action == "CRIAR":
            detail = rooms.create(name, room)
        elif command.action == "ENTRAR":
            detail = rooms.enter(self, name, room, batch)
        elif command.action == "SAIR":
            detail = rooms.leave(name, room, batch)
        elif command.action == "TOPICO":
            detail, line = rooms.topic(name, room, command.topic, batch)
            batch.add(self.connection, line)
        elif command.action == "QUEM":
            room, lines, count = rooms.who(name, room)
            batch.add(self.connection, lines)
            detail = f"{room} {count}"
        elif command.action == "MOVER":
            room, count = rooms.move(self, room, command.names, batch)
            detail = f"{room} {count}"
        else:
            detail = rooms.close_room(name, room, batch)
        self._reply("SALA", f"{command.action} {detail}")

    def _change_password(self, command: protocol.ChangePassword) -> None:
        name = self._require_logged_in()  # checked already: this only gives the name
        self._chat.change_password(self, name, command.current, command.new, self._one_time_password)
        self._one_time_password = None
        self._reply("SENHA")

    def _delete_account(self, command: protocol.DeleteAccount) -> None:
        """``EXCLUIR``: ``OK EXCLUIR <nome>``, then the connection ends (the others hear ``SAIU``)."""
        name = self._require_logged_in()  # checked already: this only gives the name
        self._reply("EXCLUIR", self._chat.delete_account(self, name, command.password, self._batch))
        raise SessionEnded(Closer.CLIENT, "EXCLUIR")

    def _announce(self, command: protocol.Announce) -> None:
        self._teaching.announce(self, command.text, self._batch)
        self._reply("AVISO", "-" if command.text is None else "")

    def _mute(self, command: protocol.Mute) -> None:
        self._sanction("SILENCIAR", Kind.MUTE, command.name, command.seconds, command.reason)

    def _kick(self, command: protocol.Kick) -> None:
        self._sanction("EXPULSAR", Kind.KICK, command.name, None, command.reason)

    def _ban(self, command: protocol.Ban) -> None:
        self._sanction("BANIR", Kind.BAN, command.name, command.seconds, command.reason)

    def _sanction(self, word: str, kind: Kind, target: str, seconds: int | None, reason: str) -> None:
        teacher = self._require_logged_in()  # a teacher: checked already
        registered, until = self._teaching.sanction(teacher, target, kind, seconds, reason, self._batch)
        self._reply(word, f"{registered} {until}")

    def _release(self, command: protocol.Release) -> None:
        teacher = self._require_logged_in()  # a teacher: checked already
        self._reply("LIBERAR", self._teaching.release(teacher, command.name, self._batch))

    def _private_chats(self, command: protocol.PrivateChats) -> None:
        self._teaching.set_private_chats(self, command.allowed, self._batch)
        self._reply("PRIVADO", "SIM" if command.allowed else "NAO")

    def _moderation_log(self, command: protocol.ModerationLog) -> None:
        lines = self._teaching.last_acts(command.count)
        self._batch.add(self.connection, b"".join(lines))
        self._reply("REGISTRO", str(len(lines)))

    def _set_role(self, command: protocol.SetRole) -> None:
        teacher = self._require_logged_in()  # a teacher: checked already
        registered = self._teaching.set_role(teacher, command.name, command.teacher, self._batch)
        self._reply("CARGO", f"{registered} {formatting.format_role(command.teacher)}")

    def _reset_password(self, command: protocol.ResetPassword) -> None:
        teacher = self._require_logged_in()  # a teacher: checked already
        registered, one_time = self._teaching.reset_password(teacher, command.name)
        self._reply("REDEFINIR", f"{registered} {one_time}")

    def _list_everyone(self) -> None:
        """``LISTA TODOS``: a ``USUARIO`` line per account, then ``OK LISTA TODOS``."""
        lines = replies.accounts(self._chat.accounts())
        self._batch.send()
        # In pieces: the whole answer may be more than max_queue, which limits
        # what waits unsent, not what a fast reader may be sent.
        for start in range(0, len(lines), LIST_CHUNK):
            self.connection.send_encoded(b"".join(lines[start:start + LIST_CHUNK]))
        self._reply("LISTA", "TODOS")

    def end(self) -> None:
        """Leave the chat: the others hear ``SAIU`` if we were the session holding our name.
        (The server logs the end of the connection, which names us.)"""
        if self._replaced.is_set():
            return  # a newer login of ours takes the name over: it is not a log-out
        self._chat.log_out(self)


# The server's half of the command table (protocol.COMMAND_HELP holds the rest:
# the word, who may use it, the help): the handler of each command, by its class.
_HANDLERS: dict[type, Callable[[ChatSession, Any], None]] = {
    protocol.PrivateMessage: ChatSession._send_private,
    protocol.Broadcast: ChatSession._broadcast,
    protocol.Register: ChatSession._register,
    protocol.Login: ChatSession._log_in,
    protocol.ListUsers: ChatSession._list,
    protocol.Quit: ChatSession._quit,
    protocol.Help: ChatSession._help,
    protocol.Ping: ChatSession._ping,
    protocol.ChangePassword: ChatSession._change_password,
    protocol.DeleteAccount: ChatSession._delete_account,
    protocol.SetRole: ChatSession._set_role,
    protocol.ResetPassword: ChatSession._reset_password,
    protocol.Announce: ChatSession._announce,
    protocol.Mute: ChatSession._mute,
    protocol.Kick: ChatSession._kick,
    protocol.Ban: ChatSession._ban,
    protocol.Release: ChatSession._release,
    protocol.PrivateChats: ChatSession._private_chats,
    protocol.ModerationLog: ChatSession._moderation_log,
    protocol.ListRooms: ChatSession._list_rooms,
    protocol.RoomMessage: ChatSession._room_message,
    protocol.RoomCommand: ChatSession._room_command,
}
# What a session logged in with a one-time password may do before SENHA.
_WHILE_CHANGING_PASSWORD = (protocol.ChangePassword, protocol.Quit, protocol.Help, protocol.Ping)

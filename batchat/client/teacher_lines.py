"""The teacher's powers and the account self-service, as the person reads them.

Owns the sentences for the lines issue 20 added to the protocol (see
docs/protocolo.md): the pushed ``AVISO``, ``SILENCIADO``, ``LIBERADO``,
``PRIVADO`` and ``CARGO`` lines, ``REGISTRO``'s ``ACAO`` rows (collected until
its ``OK``, then shown as one list), the ``OK`` of each teacher and account
command, and the refusals and sanctions (``ERRO SILENCIADO``, ``EXPULSO``,
``BANIDO``, ``PRIVADO_BLOQUEADO``, ``TROCAR_SENHA``, ``SENHA_REDEFINIDA``,
``SEM_PERMISSAO``, ``DURACAO_INVALIDA``, ``ALVO_PROFESSOR``,
``ULTIMO_PROFESSOR``). Each sentence is built from the line's fields, never
from the server's text (that is for ``nc``), with times in the person's own
zone through the injected :class:`~batchat.client.render.Clock`, and says what
the person can still do.

:class:`TeacherLines` keeps the little a session learns from those lines (who
muted this person, who turned private messages off, the announcement shown,
the record being received), so that a later refusal can name the teacher to
write to. Pure, no I/O; called by :class:`batchat.client.state.ClientState`
only; imports :mod:`protocol`, :mod:`batchat.formatting` (the words of those lines),
:mod:`batchat.client.server_lines` and :mod:`batchat.client.render`.
"""

from __future__ import annotations

import dataclasses

import protocol
from batchat import durations, formatting
from batchat.client import server_lines
from batchat.client.render import Clock, Shown, Style, When, describe_moment

E = protocol.ErrorCode
FOREVER = durations.FOREVER_WORD  # the <ate> of a ban with no end
NO_TARGET = "-"  # ACAO's <alvo> (or <professor>) when there is none; AVISO's text when unpinned
# The refusals after which the server closes every session of this account, and this
# client must not log in again by itself (kicked, banned, password reset).
SHUT_OUT_CODES = frozenset({E.KICKED.value, E.BANNED.value, E.PASSWORD_RESET.value})
# What a sanction sentence offers: how to reach a teacher when muted or in exam mode.
WRITE_TO = "você ainda pode escrever ao professor com /msg {teacher} <mensagem>"
SOME_TEACHER = "<professor>"


def until(ate: str, clock: Clock) -> str:
    """``<ate>`` for people, in the local zone: ``até 14:30`` today, ``até amanhã às
    14:30``, ``até 03/12 às 14:30`` (``03/12/2027`` another year), ``para sempre`` for
    ``SEMPRE``; the field itself if it is no time."""
    if ate == FOREVER:
        return "para sempre"
    moment = protocol.parse_timestamp(ate)
    try:
        if moment is None:
            raise ValueError(ate)
        then, now = clock.local(moment), clock.local_now()
    except (OverflowError, OSError, ValueError):  # no time, or none this platform can show
        return f"até {ate}"
    hour = then.strftime("%H:%M")
    days = (then.date() - now.date()).days
    if days == 0:
        return f"até {hour}"
    if days == 1:
        return f"até amanhã às {hour}"
    day = then.strftime("%d/%m" if then.year == now.year else "%d/%m/%Y")
    return f"até {day} às {hour}"


def _reason(motivo: str) -> str:
    return f" (motivo: {motivo})" if motivo else ""


def _first_and_rest(text: str) -> tuple[str, str]:
    first, _, rest = text.partition(" ")
    return first, rest


class TeacherLines:
    """What one session knows of the teacher's acts on it, and how each line reads."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._muted_by: str | None = None  # the teacher of the last SILENCIADO, until LIBERADO
        self._exam_by: str | None = None  # the teacher of the last PRIVADO NAO, until PRIVADO SIM
        self._announcement: tuple[str, str] | None = None  # the last AVISO shown: (teacher, text)
        self._record: list[server_lines.ServerLine] = []  # ACAO rows, until OK REGISTRO

    def forget_record(self) -> None:
        """The connection ended (or REGISTRO was refused): the rows so far mean nothing."""
        self._record = []

    def render(
        self, parsed: server_lines.ServerLine, own_name: str | None, *, pinned: bool = False,
        replayed: bool = False,
    ) -> list[Shown] | None:
        """What the person reads for ``parsed``, if it is one of issue 20's lines; ``None``
        for any other line. ``pinned``: an ``AVISO`` that came with a login's reply (the
        announcement pinned before this person arrived); ``replayed``: that login was
        the automatic one after a drop, so the same announcement is not shown twice.
        Each line says something that happened, so it shows the time
        (:func:`~batchat.client.render.timed`), but the record's rows, which carry their own."""
        said = self._said(parsed, own_name, pinned=pinned, replayed=replayed)
        if said is None:
            return None
        return [dataclasses.replace(line, when=When.NOW) if line.when is When.NONE else line for line in said]

    def _said(
        self, parsed: server_lines.ServerLine, own_name: str | None, *, pinned: bool, replayed: bool
    ) -> list[Shown] | None:
        match parsed.kind, parsed.fields:
            case "AVISO", (teacher, text):
                return self._announced(teacher, text, pinned=pinned, replayed=replayed)
            case "SILENCIADO", (ate, rest):
                teacher, motivo = _first_and_rest(rest)
                self._muted_by = teacher
                return [Shown.of(
                    f"O professor {teacher} silenciou você {until(ate, self._clock)}{_reason(motivo)}: "
                    "suas mensagens para todos e para os colegas não serão entregues; "
                    f"{WRITE_TO.format(teacher=teacher)}.", Style.ERROR)]
            case "LIBERADO", (teacher,):
                self._muted_by = None
                return [Shown.of(f"O professor {teacher} liberou você: pode voltar a escrever para todos.",
                                 Style.NOTICE)]
            case "PRIVADO", (state, teacher):
                if replayed and state == "NAO" and self._exam_by == teacher:
                    return []  # said before the connection dropped
                if not pinned and own_name and protocol.name_key(teacher) == protocol.name_key(own_name):
                    return []  # this teacher's own act: its OK says it
                return [self._private_mode(state, teacher, pinned=pinned)]
            case "CARGO", (name, role):
                return [self._role(name, role, own_name)]
            case "ACAO", _:
                self._record.append(parsed)
                return []
            case "OK", (word, detail):
                return self._ok(word, detail)
            case "ERRO", (code, text):
                sentence = self.refusal(code, text)
                return None if sentence is None else [Shown.of(f"Erro: {sentence}", Style.ERROR)]
        return None

    def _announced(self, teacher: str, text: str, *, pinned: bool, replayed: bool) -> list[Shown]:
        if replayed and self._announcement == (teacher, text):
            return []  # shown before the connection dropped
        self._announcement = (teacher, text)
        label = f"Aviso fixado pelo professor {teacher}:" if pinned else f"Aviso do professor {teacher}:"
        return [Shown(((Style.ANNOUNCEMENT, f"*** {label}"), (Style.PLAIN, " "), (Style.ANNOUNCEMENT, text)))]

    def _private_mode(self, state: str, teacher: str, *, pinned: bool) -> Shown:
        """``PRIVADO NAO|SIM <professor>``: pushed when it changes; ``pinned``, at login,
        while private messages between students are off."""
        if state == "NAO":
            self._exam_by = teacher
            done = (f"As mensagens privadas entre alunos estão desligadas pelo professor {teacher}" if pinned
                    else f"O professor {teacher} desligou as mensagens privadas entre alunos")
            return Shown.of(f"{done} (modo prova); {WRITE_TO.format(teacher=teacher)}.", Style.ANNOUNCEMENT)
        self._exam_by = None
        return Shown.of(f"O professor {teacher} religou as mensagens privadas entre alunos.", Style.ANNOUNCEMENT)

    @staticmethod
    def _role(name: str, role: str, own_name: str | None) -> Shown:
        if own_name is not None and protocol.name_key(name) != protocol.name_key(own_name):
            return Shown.of(f"{name} agora é {role.lower()}.", Style.NOTICE)
        if role == formatting.TEACHER:
            return Shown.of("Agora você é professor: /ajuda professor mostra os comandos de professor.",
                            Style.ANNOUNCEMENT)
        return Shown.of("Agora você é aluno: os comandos de professor não valem mais para você.",
                        Style.ANNOUNCEMENT)

    def refusal(self, code: str, text: str) -> str | None:
        """The sentence for ``ERRO <code> <text>`` (without ``Erro: ``), from its fields;
        ``None`` for a code that is not issue 20's."""
        ate, _ = _first_and_rest(text)
        match code:
            case E.MUTED:
                teacher = self._muted_by or SOME_TEACHER
                return (f"Você está silenciado {until(ate, self._clock)}: a mensagem não foi entregue; "
                        f"{WRITE_TO.format(teacher=teacher)}.")
            case E.PRIVATE_BLOCKED:
                teacher = self._exam_by or SOME_TEACHER
                return ("As mensagens privadas entre alunos estão desligadas (modo prova): a mensagem não "
                        "foi entregue; você ainda pode escrever para todos, e ao professor com "
                        f"/msg {teacher} <mensagem>.")
            case E.KICKED:
                return (f"Você foi expulso do chat por um professor e não pode entrar de novo "
                        f"{until(ate, self._clock)}; depois disso, rode o cliente e entre de novo.")
            case E.BANNED:
                if ate == FOREVER:
                    return ("Você foi banido do chat por um professor, sem prazo para acabar: só um "
                            "professor pode liberar você; se for um engano, fale com ele.")
                return (f"Você foi banido do chat por um professor e não pode entrar {until(ate, self._clock)}; "
                        "se for um engano, fale com ele.")
            case E.MUST_CHANGE_PASSWORD:
                return ("Você entrou com uma senha provisória: antes de qualquer outra coisa, troque-a "
                        "com /senha (ela é pedida sem aparecer na tela).")
            case E.PASSWORD_RESET:
                return ("Um professor redefiniu a senha desta conta, e esta sessão foi encerrada: peça a "
                        "ele a senha provisória, entre com ela e troque-a com /senha.")
        return _TEACHER_REFUSALS.get(code)

    def _ok(self, word: str, detail: str) -> list[Shown] | None:
        """``OK <word> <detail>`` of issue 20's commands; ``None`` for the others."""
        name, rest = _first_and_rest(detail)
        match word:
            case "REGISTRO":
                return self._record_list()
            case "REDEFINIR":
                return [Shown((
                    (Style.NOTICE, f"Senha provisória de {name}: "), (Style.ANNOUNCEMENT, rest),
                    (Style.NOTICE, f"  (diga-a a {name}: vale para uma só entrada, e em seguida "
                                   f"{name} escolhe outra com /senha)"),
                ))]
            case "AVISO" if detail == NO_TARGET:
                return [Shown.of("Aviso retirado.", Style.NOTICE)]
        sentence = _ok_sentence(word, name, rest, self._clock)
        return None if sentence is None else [Shown.of(sentence, Style.NOTICE)]

    def _record_list(self) -> list[Shown]:
        rows, self._record = self._record, []
        if not rows:
            return [Shown.of("O registro está vazio: nenhum ato de professor ainda.", Style.NOTICE)]
        header = Shown.of(f"Registro ({len(rows)} {'ato' if len(rows) == 1 else 'atos'}, "
                          "o mais antigo primeiro):", Style.NOTICE)
        return [header, *(Shown(((Style.PLAIN, f"  {act_sentence(row.fields, self._clock)}"),), When.WRITTEN)
                          for row in rows)]


_TEACHER_REFUSALS = {
    E.NO_PERMISSION.value: "Esse comando é só para professores; /ajuda mostra os que você pode usar.",
    E.INVALID_DURATION.value: ("Duração inválida: use um número e uma letra, como 30s, 10m, 2h ou 1d (de 1s a "
                         "365d); só /banir aceita também sempre."),
    E.TARGET_TEACHER.value: "Um professor não pode ser silenciado, expulso, banido nem ter a senha redefinida.",
    E.LAST_TEACHER.value: ("Esta é a última conta de professor, e o chat precisa de pelo menos uma: dê o "
                         "cargo a outra pessoa antes, com /cargo <nome> professor."),
}


def _ok_sentence(word: str, name: str, rest: str, clock: Clock) -> str | None:
    """The confirmation of a teacher's or account command; ``None`` for another word."""
    match word:
        case "AVISO":
            return "Aviso enviado a todos e fixado: quem entrar depois também o verá; /aviso - o retira."
        case "SILENCIAR":
            return f"{name} está silenciado {until(rest, clock)}: pode escrever só ao professor."
        case "EXPULSAR":
            return f"{name} foi expulso e não pode entrar de novo {until(rest, clock)}."
        case "BANIR":
            return f"{name} está banido {until(rest, clock)}; /liberar {name} desfaz."
        case "LIBERAR":
            return f"{name} foi liberado: nenhum silêncio, expulsão ou banimento vale mais para ele."
        case "PRIVADO":
            if name == "NAO":
                return "Modo prova ligado: alunos não trocam mais mensagens privadas; /privado sim religa."
            return "Mensagens privadas entre alunos religadas."
        case "CARGO":
            return f"{name} agora é {rest.lower()}."
        case "SENHA":
            return "Senha trocada: da próxima vez, entre com a nova."
        case "EXCLUIR":
            return f"Conta {name} excluída, com as mensagens guardadas para ela. Até logo!"
    return None


# How each act of the record reads: ``<professor> <verb> <alvo>`` and its detail.
_ACTS = {
    "SILENCIAR": "silenciou", "EXPULSAR": "expulsou", "BANIR": "baniu", "LIBERAR": "liberou",
}


def act_sentence(fields: tuple[str, ...], clock: Clock) -> str:
    """One ``ACAO <quando> <professor> <ato> <alvo> [detalhe]`` row, for people:
    ``[ontem 14:30] ana silenciou bob até 15:00 (motivo: conversa)``."""
    when, teacher, act, target, detail = fields
    moment = protocol.parse_timestamp(when)
    stamp = (describe_moment(moment, clock, today="hoje") if moment is not None else None) or when
    ate, motivo = _first_and_rest(detail)
    match act:
        case "SILENCIAR" | "EXPULSAR" | "BANIR":
            what = f"{teacher} {_ACTS[act]} {target} {until(ate, clock)}{_reason(motivo)}"
        case "LIBERAR":
            what = f"{teacher} liberou {target}"
        case "AVISO":
            what = f"{teacher} retirou o aviso" if detail == NO_TARGET else f"{teacher} avisou: {detail}"
        case "PRIVADO":
            what = f"{teacher} {'desligou' if detail == 'NAO' else 'religou'} as mensagens privadas entre alunos"
        case "REDEFINIR":
            what = f"{teacher} redefiniu a senha de {target}"
        case "CARGO":
            what = f"{teacher} deu a {target} o cargo de {detail.lower()}"
        case "EXCLUIR":
            what = f"{target} excluiu a própria conta"
        case "PROFESSOR":
            what = f"{target} virou professor ao iniciar o servidor (--professor)"
        case _:
            what = " ".join(field for field in (teacher, act, target, detail) if field)
    return f"[{stamp}] {what}"

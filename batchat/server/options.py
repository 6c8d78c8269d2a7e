"""The server's command line: every option, its type, its bounds and its help, in Portuguese.

Owns :func:`parse_arguments` and :func:`limits_from`; called by
:mod:`batchat.server.main` (and by the tests that start a server in their own
process, with the same options a subprocess would get).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import protocol
from batchat import cli
from batchat.durations import duration_word, parse_duration
from batchat.server.accounts import DEFAULT_HASH_COST
from batchat.server.users_file import MAX_HASH_COST
from batchat.server import moderation
from batchat.server.rooms import DEFAULT_ROOM_HISTORY
from batchat.server.limits import Limits
from batchat.server.timing import DEFAULT_TIMING, Timing
from batchat.server.tls_handshake import DEFAULT_TLS_TIMEOUT


DEFAULT_PORT = 5050

DEFAULT_HISTORY = 20  # public messages replayed to whoever logs in

MAX_HISTORY = 10_000
MAX_ROOM_LINES = 10_000  # --linhas-por-sala: each room's lines are kept in memory too
ROOMS_FILE_NAME = "salas.sqlite3"  # in the data folder, beside users.json


def _bounded(kind: Callable[[str], float], maximum: float) -> Callable[[str], Any]:
    """argparse type: a finite number from 0 to ``maximum``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"valor inválido: {text!r}") from None
        if not (math.isfinite(value) and 0 <= value <= maximum):
            raise argparse.ArgumentTypeError(f"deve estar entre 0 e {maximum:g}, não {text}")
        return value

    return parse


def _timing(text: str) -> Timing:
    """argparse type for the hidden ``--timing``: see :meth:`Timing.parse`."""
    try:
        return Timing.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"valor inválido: {text!r}") from None


def _duration(text: str) -> int:
    """argparse type: a duration (:func:`batchat.durations.parse_duration`), never SEMPRE."""
    try:
        return parse_duration(text)  # type: ignore[return-value]  # never None without forever_allowed
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# (option, type, largest value, help) for each field of Limits, in --help order.
# TCP_KEEPIDLE takes at most 32767 s; other maxima only keep values sane.
_LIMIT_OPTIONS: list[tuple[str, Callable[[str], float], float, str]] = [
    # A message line must fit in what clients accept from a server, prefix and names included.
    ("max_line", int, protocol.MAX_SERVER_LINE // 2, "bytes por linha, contando a quebra de linha"),
    ("max_queue", int, 2**30, "bytes esperando envio para um cliente; além disso ele é desconectado"),
    ("flood_rate", float, 1e6, "linhas por segundo por conexão, em média"),
    ("flood_burst", int, 1e6, "linhas seguidas permitidas depois de um tempo quieto (1 ou mais)"),
    ("login_rate", int, 1e6, "senhas conferidas por minuto, por conta (de qualquer IP); as tentativas além "
     "disso esperam a vez, sem recusar a senha certa"),
    ("login_attempts", int, 1e6, "tentativas de login (ENTRAR) por minuto por IP, certas ou erradas"),
    ("register_rate", int, 1e6, "cadastros (NOVO) por minuto, por IP"),
    ("max_clients", int, 1e7, "conexões ao todo"),
    ("max_per_ip", int, 1e7, "conexões a partir de um mesmo IP"),
    ("login_timeout", float, 86400, "segundos que uma conexão que ainda não entrou (ENTRAR) pode passar "
     "sem enviar uma linha completa; cada linha recomeça a contagem"),
    ("login_cap", float, 86400, "segundos para entrar (ENTRAR) desde a conexão, por mais linhas que o cliente envie"),
    ("idle_timeout", float, 32767, "segundos de silêncio até o servidor testar se o cliente ainda existe"),
    ("max_pending", int, 1e6, "mensagens privadas esperando por um usuário (guardadas, ou confirmadas e "
     "ainda não escritas na conexão dele); além disso, CAIXA_CHEIA"),
]


def _account_name(text: str) -> str:
    """An account's name, as the name rule allows one (for --professor)."""
    try:
        return protocol.validate_name(text)
    except protocol.ProtocolError as error:
        raise argparse.ArgumentTypeError(error.text) from None


def parse_arguments(argv: list[str] | None = None) -> Any:
    parser = cli.PortugueseArgumentParser(
        "Servidor do BatChat: um chat TCP com um protocolo de linhas em português. "
        "Nos limites, 0 desliga o limite.",
    )
    _add_server_options(parser)
    _add_limit_options(parser)
    args = parser.parse_args(argv)
    if args.flood_rate and not args.flood_burst:
        parser.error("--flood-burst deve ser 1 ou mais quando --flood-rate está ligado")
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert e --tls-key vão juntos")
    if args.tls_cert is not None and not args.tls_timeout:
        parser.error("--tls-timeout deve ser maior que 0")
    if args.mailbox is None:
        args.mailbox = args.users.parent / "mailbox.sqlite3"
    args.moderation = args.users.parent / moderation.FILE_NAME  # always beside users.json
    args.rooms = args.users.parent / ROOMS_FILE_NAME  # always beside users.json
    return args


def _add_server_options(parser: cli.PortugueseArgumentParser) -> None:
    """Every option but the limits, in --help order: where, what is kept, the class, the log."""
    _add_network_options(parser)
    _add_data_options(parser)
    _add_class_options(parser)
    # The tests' shorter grace periods (Timing.parse says why an option); not in --help.
    parser.option("--timing", type=_timing, default=DEFAULT_TIMING, help=argparse.SUPPRESS)


def _add_network_options(parser: cli.PortugueseArgumentParser) -> None:
    parser.option(
        "--host", default="0.0.0.0",
        help="endereço onde escutar; 0.0.0.0 aceita de outras máquinas, 127.0.0.1 só desta, "
        ":: aceita IPv6 e IPv4",
    )
    parser.option(
        "--port", type=cli.port_number, default=DEFAULT_PORT,
        help="porta TCP; 0 escolhe uma porta livre e a mostra",
    )
    parser.option("--tls-cert", type=Path, metavar="ARQUIVO", help="certificado (PEM): liga o TLS")
    parser.option("--tls-key", type=Path, metavar="ARQUIVO", help="chave privada (PEM) do certificado")
    parser.option(
        "--tls-timeout", type=_bounded(float, 3600), default=DEFAULT_TLS_TIMEOUT, metavar="S",
        help="segundos que um cliente tem para completar o handshake TLS",
    )


def _add_data_options(parser: cli.PortugueseArgumentParser) -> None:
    parser.option("--users", type=Path, default=Path("users.json"), help="arquivo das contas, criado se não existir")
    parser.option(
        "--mailbox", type=Path,
        help="arquivo SQLite das mensagens guardadas para quem está offline "
        "(padrão: mailbox.sqlite3 na pasta de --users)",
    )
    parser.option(
        "--history", type=_bounded(int, MAX_HISTORY), default=DEFAULT_HISTORY, metavar="N",
        help="mensagens públicas (TODOS) mostradas a quem entra; 0 desliga",
    )
    parser.option(
        "--salas-livres", dest="free_rooms", action="store_true",
        help="qualquer um cria salas (SALA CRIAR), e quem cria muda o tópico e encerra a sua; "
        "sem esta opção, só professores",
    )
    parser.option(
        "--linhas-por-sala", dest="room_lines", type=_bounded(int, MAX_ROOM_LINES), default=DEFAULT_ROOM_HISTORY,
        metavar="N", help="mensagens que cada sala guarda (em salas.sqlite3, #geral também); 0 não guarda",
    )
    parser.option(
        "--hash-cost", type=int, default=DEFAULT_HASH_COST, choices=range(1, MAX_HASH_COST + 1), metavar="N",
        help="custo do scrypt para senhas novas, n = 2**N; valores baixos só para testes",
    )


def _add_class_options(parser: cli.PortugueseArgumentParser) -> None:
    parser.option(
        "--professor", type=_account_name, action="append", default=[], metavar="NOME",
        help="torna a conta NOME professor (repetível); a marca fica em --users. Se a conta não existe, "
        "a senha é pedida neste terminal",
    )
    parser.option(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="detalhe do log"
    )
    parser.option(
        "--log-file", type=Path, metavar="ARQUIVO",
        help="grava o log também neste arquivo (em UTF-8), trocado a cada 5 MiB; "
        "guarda os 3 anteriores (ARQUIVO.1 a ARQUIVO.3)",
    )
    parser.option(
        # A word as default: argparse reads it with the type, and --help shows it as typed.
        "--espera-expulsao", dest="kick_wait", type=_duration, default=duration_word(Limits().kick_wait),
        metavar="DURAÇÃO", help="quanto tempo quem foi expulso (EXPULSAR) fica sem poder entrar: "
        "um número seguido de s, m, h ou d, como 30s, 10m, 2h ou 1d",
    )


def _add_limit_options(parser: cli.PortugueseArgumentParser) -> None:
    defaults = Limits()
    for name, kind, maximum, text in _LIMIT_OPTIONS:
        parser.option(
            "--" + name.replace("_", "-"),
            type=_bounded(kind, maximum),
            default=getattr(defaults, name),
            metavar="N",
            help=text,
        )


def limits_from(args: Any) -> Limits:
    return Limits(**{field.name: getattr(args, field.name) for field in fields(Limits)})

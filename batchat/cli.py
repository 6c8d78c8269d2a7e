"""The command-line conventions ``servidor.py`` and ``cliente.py`` share: argparse in Portuguese.

Owns nothing shared; called by ``batchat.server.main`` and ``batchat.client.main``
when they read their options.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

class _PortugueseHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix if prefix is not None else "uso: ")

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        # Flags (no value: --tls, --no-reconnect) have no default worth showing.
        default = action.default
        if default not in (None, argparse.SUPPRESS) and action.nargs != 0:
            # A whole number reads as one: "padrão: 300", not "300.0".
            if isinstance(default, float) and default.is_integer():
                default = int(default)
            text += f" (padrão: {str(default).replace('%', '%%')})"
        return text


class PortugueseArgumentParser(argparse.ArgumentParser):
    """argparse with its own words in Portuguese, so ``--help`` reads in one language.

    Defaults are shown by the formatter ("(padrão: ...)"), so option help
    texts do not repeat them.
    """

    def __init__(self, description: str) -> None:
        super().__init__(
            description=description, add_help=False, formatter_class=_PortugueseHelpFormatter
        )
        self._options = self.add_argument_group("opções")
        self._options.add_argument("-h", "--help", action="help", help="mostra esta ajuda e sai")

    def option(self, *flags: str, **settings: Any) -> None:
        """Add an option to the "opções" section."""
        self._options.add_argument(*flags, **settings)

    # argparse's own phrases that reach the person, in the words it builds them with.
    _PHRASES = (
        ("argument ", "opção "),
        ("invalid choice", "escolha inválida"),
        ("choose from", "escolha entre"),
        ("expected one argument", "falta o valor"),
        ("unrecognized arguments", "opções desconhecidas"),
    )

    def error(self, message: str) -> NoReturn:
        for english, portuguese in self._PHRASES:
            message = message.replace(english, portuguese)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: erro: {message}\n")


def port_number(text: str) -> int:
    """argparse type for a TCP port, 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"porta inválida: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a porta deve estar entre 0 e 65535, não {port}")
    return port

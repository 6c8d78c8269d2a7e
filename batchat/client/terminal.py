"""What differs between Linux, macOS and Windows for the client's terminal, each behind one small function.

Owns no shared state; called by the client's screen and threads only. The
client never imports ``termios`` nor tests ``sys.platform`` elsewhere: these
functions do the best the terminal allows and say at debug level, once, what
they had to skip (:func:`batchat.portable.skip`). The server's counterpart
is :mod:`batchat.server.os_support`.
"""

from __future__ import annotations

import codecs
import contextlib
import locale
import os
import sys
from collections.abc import Callable

from batchat.portable import skip as _skip


# Locales to switch the C library to when it was left at "C" or "POSIX"; the first that exists.
UTF8_LOCALES = ("C.UTF-8", "C.utf8", "en_US.UTF-8", "UTF-8")


def use_utf8_text() -> None:
    """Read and write UTF-8 where the locale says ASCII (``LC_ALL=C``, ``LC_ALL=POSIX``,
    ``LANG=C``); call before readline is imported and before any other thread starts.

    Why: a C locale is how minimal images, containers and some lab machines run, not the
    person's choice; their terminal speaks UTF-8 all the same, as the protocol does. Taken
    at its word, the locale makes Python's stdin and stdout ASCII (unless Python's UTF-8
    mode is on: PEP 538/540 do not apply everywhere, and ``PYTHONUTF8=0`` turns them off)
    and leaves the C library's ``LC_CTYPE`` at ``C``, where readline takes ``ã`` for two
    keys and the ``readline`` module encodes lines for its history as ASCII: the first
    accent ended the session. So:

    - stdin becomes UTF-8 whatever the locale, with ``surrogateescape``: bytes that are
      not UTF-8 reach the keyboard thread, which refuses that line and says why;
    - stdout and stderr become UTF-8 (``replace``) when they were ASCII; a locale with a
      real 8-bit encoding (Latin-1) is kept, since there the terminal speaks it;
    - ``LC_CTYPE`` goes from ``C``/``POSIX`` to the first of :data:`UTF8_LOCALES` the
      system has (Linux has ``C.UTF-8``, macOS ``UTF-8``); Windows has no such locale.
    """
    if _is_ascii(sys.stdin.encoding):
        sys.stdin.reconfigure(encoding="utf-8", errors="surrogateescape")  # type: ignore[union-attr]
    else:
        sys.stdin.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    for stream in (sys.stdout, sys.stderr):
        if _is_ascii(stream.encoding):
            stream.reconfigure(encoding="utf-8", errors="replace")  # type: ignore[union-attr]
    if sys.platform == "win32" or locale.setlocale(locale.LC_CTYPE) not in ("C", "POSIX"):
        return
    for name in UTF8_LOCALES:
        with contextlib.suppress(locale.Error):
            locale.setlocale(locale.LC_CTYPE, name)
            return
    _skip("um locale UTF-8")


def _is_ascii(encoding: str | None) -> bool:
    try:
        return codecs.lookup(encoding or "ascii").name == "ascii"
    except LookupError:
        return True


def terminal_restorer(fd: int) -> Callable[[], None]:
    """A function that puts the terminal's settings back as they are now.

    It raises ``OSError`` when the terminal is gone. Where there is no
    ``termios`` (Windows), there is nothing to put back.
    """
    try:
        import termios
    except ImportError:
        _skip("termios")
        return lambda: None
    saved = termios.tcgetattr(fd)

    def restore() -> None:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except termios.error as error:
            raise OSError(*error.args) from error

    return restore


def read_hidden(prompt: str, *, echo: bool = False) -> str | None:
    """A line typed at the terminal without echo (a password); ``None`` when cancelled.
    ``echo``: shown as typed instead (an answer, such as the confirmation of /excluir).

    Ctrl-C cancels the prompt, not the program: it arrives as a key, not as
    SIGINT (which only the main thread could handle, while this waits in
    another). Ctrl-D on an empty line cancels too. Without ``termios``
    (Windows), :func:`getpass.getpass` (or ``input``, for ``echo``), whose Ctrl-C
    cancels as well.
    """
    try:
        import termios

        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except (ImportError, OSError):
        return _getpass(prompt, echo)
    try:
        saved = termios.tcgetattr(fd)
        keys = [*saved]
        keys[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG)
        keys[6] = [*saved[6]]
        keys[6][termios.VMIN], keys[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSAFLUSH, keys)
    except termios.error:
        os.close(fd)
        return _getpass(prompt, echo)
    try:
        os.write(fd, prompt.encode("utf-8"))
        return _read_keys(fd, echo)
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            os.write(fd, b"\n")
        os.close(fd)


def _read_keys(fd: int, echo: bool = False) -> str | None:
    """Keys up to Enter, with Backspace and Ctrl-U; ``None`` for Ctrl-C, or Ctrl-D at the start.
    ``echo``: each key is written back as it changes the line (one column per character)."""
    typed = bytearray()
    while True:
        key = os.read(fd, 1)
        if not key or key == b"\x03" or (key == b"\x04" and not typed):
            return None
        if key in (b"\r", b"\n"):
            return typed.decode("utf-8", errors="replace")
        if key in (b"\x7f", b"\x08"):
            while typed and typed[-1] & 0xC0 == 0x80:  # the rest of a UTF-8 character
                typed.pop()
            if typed:
                typed.pop()
                _echo(fd, echo, b"\b \b")
        elif key == b"\x15":  # Ctrl-U: start again
            _echo(fd, echo, b"\b \b" * len(typed.decode("utf-8", errors="replace")))
            typed.clear()
        elif key >= b" ":
            typed += key
            _echo(fd, echo, key)


def _echo(fd: int, echo: bool, data: bytes) -> None:
    if echo:
        os.write(fd, data)


def _getpass(prompt: str, echo: bool = False) -> str | None:
    import getpass

    try:
        return input(prompt) if echo else getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt):  # Windows' getpass raises KeyboardInterrupt at Ctrl-C
        return None


def terminal_understands_colour() -> bool:
    """Whether ANSI colour codes work in this console.

    Unix terminals do. Windows 10 and newer consoles do once asked to
    (ENABLE_VIRTUAL_TERMINAL_PROCESSING); an older one would print the codes.
    """
    if sys.platform != "win32":
        return True
    with contextlib.suppress(AttributeError, OSError):
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.GetStdHandle(-11)  # STD_OUTPUT_HANDLE
        mode = ctypes.c_uint32()
        if kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return bool(kernel32.SetConsoleMode(handle, mode.value | 0x0004))
    return False

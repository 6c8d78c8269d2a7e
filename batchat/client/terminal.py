"""What differs between Linux, macOS and Windows for the client's terminal, each behind one small function.

Owns no shared state; called by the client's screen and threads only. The
client never imports ``termios`` nor tests ``sys.platform`` elsewhere: these
functions do the best the terminal allows and say at debug level, once, what
they had to skip (:func:`batchat.portable.skip`). The server's counterpart
is :mod:`batchat.server.os_support`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

from batchat.portable import skip as _skip


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


def read_hidden(prompt: str) -> str | None:
    """A line typed at the terminal without echo (a password); ``None`` when cancelled.

    Ctrl-C cancels the prompt, not the program: it arrives as a key, not as
    SIGINT (which only the main thread could handle, while this waits in
    another). Ctrl-D on an empty line cancels too. Without ``termios``
    (Windows), :func:`getpass.getpass`, whose Ctrl-C cancels as well.
    """
    try:
        import termios

        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except (ImportError, OSError):
        return _getpass(prompt)
    try:
        saved = termios.tcgetattr(fd)
        keys = [*saved]
        keys[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG)
        keys[6] = [*saved[6]]
        keys[6][termios.VMIN], keys[6][termios.VTIME] = 1, 0
        termios.tcsetattr(fd, termios.TCSAFLUSH, keys)
    except termios.error:
        os.close(fd)
        return _getpass(prompt)
    try:
        os.write(fd, prompt.encode("utf-8"))
        return _read_keys(fd)
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            os.write(fd, b"\n")
        os.close(fd)


def _read_keys(fd: int) -> str | None:
    """Keys up to Enter, with Backspace and Ctrl-U; ``None`` for Ctrl-C, or Ctrl-D at the start."""
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
        elif key == b"\x15":  # Ctrl-U: start again
            typed.clear()
        elif key >= b" ":
            typed += key


def _getpass(prompt: str) -> str | None:
    import getpass

    try:
        return getpass.getpass(prompt)
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

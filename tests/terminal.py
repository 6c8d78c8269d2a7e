"""Test helpers: ``cliente.py`` in a real pseudo-terminal, and a tiny screen emulator.

:class:`TerminalClient` starts the client with a pty as its controlling
terminal, so readline, getpass (which opens ``/dev/tty``) and Ctrl-C behave as
they do for a person. Everything the client writes goes through
:class:`VirtualScreen`, which keeps the screen's rows and the cursor, so a
test can assert what a person would *see*, not just which bytes went by.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import shutil
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.support import CLIENT, PYTHON, TIMEOUT

# Runs in the child, in its own session: take the pty as controlling terminal
# (as a login shell would), then become the client, -S and all (see PYTHON).
TAKE_TERMINAL = (
    "import fcntl, os, sys, termios;"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
    "os.execv(sys.executable, [sys.executable, *(['-S'] if sys.flags.no_site else []), *sys.argv[1:]])"
)
# The same without a second Python to start, where util-linux's setsid is (Linux):
# a new session, the pty as its controlling terminal (-c), then the client.
SETSID = shutil.which("setsid")
T = TypeVar("T")
CSI_RE = re.compile(r"\x1b\[([?>]?)([0-9;]*)([@-~])")
SGR_RE = re.compile(rb"\x1b\[[0-9;]*m")

# Keys as a terminal sends them.
LEFT = "\x1b[D"
UP = "\x1b[A"
TAB = "\t"
ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"


class VirtualScreen:
    """Enough of an xterm to follow readline: text, wrapping, cursor moves, erases.

    Colours (SGR) are accepted and dropped; the raw bytes keep them for tests
    that look for them.
    """

    def __init__(self, rows: int, columns: int) -> None:
        self.rows = rows
        self.columns = columns
        self._grid = [[" "] * columns for _ in range(rows)]
        self.row = 0
        self.column = 0
        self._wrap_pending = False  # xterm's deferred wrap after the last column
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._unparsed = ""

    def feed(self, data: bytes) -> None:
        text = self._unparsed + self._decoder.decode(data)
        self._unparsed = ""
        index = 0
        while index < len(text):
            char = text[index]
            if char == "\x1b":
                consumed = self._escape(text[index:])
                if consumed == 0:  # an incomplete sequence: wait for the rest
                    self._unparsed = text[index:]
                    return
                index += consumed
                continue
            self._control(char) if char < " " else self._put(char)
            index += 1

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self._grid]

    @property
    def text(self) -> str:
        return "\n".join(self.lines()).rstrip("\n")

    @property
    def cursor_line(self) -> str:
        return self.lines()[self.row]

    def _put(self, char: str) -> None:
        if self._wrap_pending:
            self._wrap_pending = False
            self.column = 0
            self._line_feed()
        self._grid[self.row][self.column] = char
        if self.column == self.columns - 1:
            self._wrap_pending = True
        else:
            self.column += 1

    def _control(self, char: str) -> None:
        if char in "\r\n\b":
            self._wrap_pending = False
        if char == "\r":
            self.column = 0
        elif char == "\n":
            self._line_feed()
        elif char == "\b":
            self.column = max(0, self.column - 1)
        elif char == "\t":
            self.column = min(self.columns - 1, (self.column // 8 + 1) * 8)

    def _line_feed(self) -> None:
        if self.row == self.rows - 1:
            self._grid.pop(0)
            self._grid.append([" "] * self.columns)
        else:
            self.row += 1

    def _escape(self, text: str) -> int:
        """Apply the escape sequence at the start of ``text``; its length, 0 if incomplete."""
        if len(text) < 2:
            return 0
        if text[1] != "[":
            return 2  # ESC = / ESC > and the like: keypad modes, nothing to draw
        match = CSI_RE.match(text)
        if match is None:
            return 0 if len(text) < 16 else 1
        private, parameters, final = match.groups()
        if not private:
            self._csi(final, [int(p) if p else 0 for p in parameters.split(";")])
        return match.end()

    def _csi(self, final: str, parameters: list[int]) -> None:
        count = max(1, parameters[0])
        self._wrap_pending = False
        row = self._grid[self.row]
        match final:
            case "A":
                self.row = max(0, self.row - count)
            case "B":
                self.row = min(self.rows - 1, self.row + count)
            case "C":
                self.column = min(self.columns - 1, self.column + count)
            case "D":
                self.column = max(0, self.column - count)
            case "G":
                self.column = min(self.columns - 1, count - 1)
            case "H" | "f":
                self.row = min(self.rows - 1, count - 1)
                self.column = min(self.columns - 1, max(1, (parameters + [1])[1]) - 1)
            case "K":
                start, end = {0: (self.column, self.columns), 1: (0, self.column + 1)}.get(
                    parameters[0], (0, self.columns)
                )
                row[start:end] = [" "] * (end - start)
            case "J":
                if parameters[0] == 0:
                    row[self.column:] = [" "] * (self.columns - self.column)
                    for below in self._grid[self.row + 1:]:
                        below[:] = [" "] * self.columns
                else:
                    self._grid = [[" "] * self.columns for _ in range(self.rows)]
            case "P":
                del row[self.column:self.column + count]
                row.extend([" "] * (self.columns - len(row)))
            case "@":
                row[self.column:self.column] = [" "] * count
                del row[self.columns:]
            case "X":
                end = min(self.columns, self.column + count)
                row[self.column:end] = [" "] * (end - self.column)
            case _:
                pass  # "m" (colour) and modes change nothing on the grid


class TerminalClient:
    """``cliente.py`` on a pseudo-terminal of ``rows`` x ``columns``, its screen emulated."""

    def __init__(
        self, port: int, home: Path, *args: str, rows: int = 24, columns: int = 80,
        environ: dict[str, str | None] | None = None, launcher: tuple[str, ...] = (),
    ) -> None:
        """``environ`` adds to the test's environment (``None`` removes a name);
        ``launcher``: a script that runs ``cliente.py`` (e.g. ``tests/without_unix.py``)."""
        self.home = home
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.initial_modes = termios.tcgetattr(slave)
        env = {
            key: value for key, value in os.environ.items()
            if key not in (
                "NO_COLOR", "XDG_STATE_HOME", "INPUTRC", "COLUMNS", "LINES", "LANG", "LC_CTYPE",
                "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONCOERCECLOCALE",
            )
        }
        env.update(HOME=str(home), TERM="xterm", LC_ALL="C.UTF-8", INPUTRC="/dev/null")
        for key, value in (environ or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        client = [*launcher, str(CLIENT), "--port", str(port), *args]
        self.process = subprocess.Popen(
            [SETSID, "-c", *PYTHON, *client] if SETSID else [*PYTHON, "-c", TAKE_TERMINAL, *client],
            stdin=slave, stdout=slave, stderr=slave, start_new_session=not SETSID, env=env,
        )
        # Our copy of the slave keeps the terminal (and its modes) alive after the
        # client exits, so a test can check the client left it as it found it.
        self._slave = slave
        self.master = master
        self.screen = VirtualScreen(rows, columns)
        self.raw = bytearray()
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every copy of the slave side is closed
                data = b""
            with self._changed:
                if not data:
                    self._ended = True
                    self._changed.notify_all()
                    return
                self.raw += data
                self.screen.feed(data)
                self._changed.notify_all()

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode("utf-8"))

    def wait_until(self, check: Callable[[VirtualScreen], T], what: str, timeout: float = TIMEOUT) -> T:
        """Wait until ``check(screen)`` is true, and return it; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := check(self.screen)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._ended:
                    raise AssertionError(
                        f"the screen never showed {what}; row {self.screen.row}, column "
                        f"{self.screen.column}, screen:\n{self.screen.text}"
                    )
                self._changed.wait(remaining)
            return result

    def wait_screen(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait until the screen shows ``pattern`` (a regex, multiline)."""
        regex = re.compile(pattern, re.MULTILINE)
        return self.wait_until(lambda screen: regex.search(screen.text), repr(pattern), timeout)

    def wait_prompt(self, text: str, column: int | None = None, timeout: float = TIMEOUT) -> None:
        """Wait until the cursor's row reads ``text`` and the cursor is at ``column``.

        ``column`` defaults to the end of ``text``: where typing goes on.
        """
        column = len(text) if column is None else column
        self.wait_until(
            lambda screen: screen.cursor_line == text.rstrip() and screen.column == column,
            f"the input row {text!r} with the cursor at column {column}",
            timeout,
        )

    def terminal_modes(self) -> list:
        """The pty's termios settings, as the client left them."""
        return termios.tcgetattr(self.master)

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        os.close(self._slave)  # now the reader sees EIO and ends
        self._reader.join(TIMEOUT)
        os.close(self.master)

"""The screen and the keyboard's line editor.

Owns how lines reach the terminal: :class:`PlainScreen` for pipes and
scripts, :class:`TerminalScreen` with readline, printing above the line being
typed through :class:`ReadlineRedraw`; the input history file
(:class:`InputHistory`, :func:`history_path`); colour (:func:`use_colour`),
column counting (:func:`display_width`), and setting readline up
(:func:`make_screen`, :func:`set_up_readline`).

Called by :mod:`batchat.client.threads`; imports :mod:`batchat.client.terminal`,
:mod:`batchat.client.render` and :mod:`batchat.client.typed`, never the client.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import queue
import re
import shutil
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from batchat.locks import tiered_lock
from batchat.client import terminal, tiers
from batchat.client.render import Shown, Style
from batchat.client.typed import completions, history_entry

HISTORY_LENGTH = 1000
CTRL_C_HINT = "Ctrl-C apaga a linha; para sair, /sair, Ctrl-D ou Ctrl-C de novo numa linha vazia."
HISTORY_FILE_NAME = "historico"


def use_colour(is_terminal: bool, environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (to anything but "")."""
    return is_terminal and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


WRAP_INDENT = "  "  # where a wrapped line goes on: under the text, not under the time
_WORDS_RE = re.compile(r"\S+|\s+")


def wrap(shown: Shown, columns: int) -> list[Shown]:
    """``shown`` cut into rows of at most ``columns`` at spaces, as a person reads them:
    a terminal would cut a long line in the middle of a word ("ve" / "r os comandos").
    Rows after the first start with :data:`WRAP_INDENT`; a word longer than a row is
    cut where it must be. Not a character is lost or added: the spaces where a row
    ends stay at its end as far as they fit, and the rest begin the next row (the
    rows, less the indent, are ``shown`` again). Styles stay with their text."""
    rows: list[list[tuple[Style, str]]] = [[]]
    width = 0
    for style, text in shown.parts:
        for token in _WORDS_RE.findall(text):
            token_width = display_width(token)
            if width + token_width <= columns:
                rows[-1].append((style, token))
                width += token_width
            else:  # spaces go on where they are; a word starts a new row first
                width = _place(rows, width, style, token, columns, new_row=not token.isspace())
    return [Shown(_join_styles(row), shown.when) for row in rows if row]


def _place(
    rows: list[list[tuple[Style, str]]], width: int, style: Style, token: str, columns: int,
    new_row: bool,
) -> int:
    """Put ``token``, which does not fit where the last row is, on as many rows as it
    takes, starting on a new row if ``new_row``; the width of the last row then."""
    while token:
        bare = len(rows[-1]) == (0 if len(rows) == 1 else 1)  # nothing but the indent
        if new_row and not bare:
            rows.append([(Style.PLAIN, WRAP_INDENT)])
            width, bare = len(WRAP_INDENT), True
        new_row = True
        piece = _longest_start(token, columns - width, whole=bare)
        if piece:
            rows[-1].append((style, piece))
            width += display_width(piece)
            token = token[len(piece):]
    return width


def _longest_start(word: str, room: int, whole: bool) -> str:
    """The longest start of ``word`` that fits in ``room`` columns, at least one character
    if ``whole`` (the row is empty: it must take something); linear, since a hostile
    server may send a word as long as a line may be. A path longer than a row is cut
    after a ``/`` (or ``\\``), never in the middle of a folder's name, when one fits."""
    used = 0
    for index, char in enumerate(word):
        used += display_width(char)
        if used > room:
            if not whole:
                return word[:index]
            separator = max(word.rfind("/", 0, index), word.rfind("\\", 0, index))
            return word[:separator + 1 if separator > 0 else max(1, index)]
    return word


def _join_styles(row: list[tuple[Style, str]]) -> tuple[tuple[Style, str], ...]:
    """A row's parts with neighbours of one style joined (one colour code per stretch,
    as the unwrapped line had)."""
    joined: list[tuple[Style, str]] = []
    for style, text in row:
        if joined and joined[-1][0] is style:
            joined[-1] = (style, joined[-1][1] + text)
        else:
            joined.append((style, text))
    return tuple(joined)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes as readline shows it.

    Wide East Asian characters take 2, combining marks 0, and a control
    character 2 (readline shows Ctrl-A as ``^A``).
    """
    return sum(
        0 if unicodedata.combining(char)
        else 2 if unicodedata.east_asian_width(char) in "WF" or char < " " or char == "\x7f"
        else 1
        for char in text
    )


# --- History file -----------------------------------------------------------------------


def history_path(environ: dict[str, str] | os._Environ[str]) -> Path:
    """``$XDG_STATE_HOME/batchat/historico``, by default under ``~/.local/state``."""
    state = environ.get("XDG_STATE_HOME")
    if not state:
        state = str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state) / "batchat" / HISTORY_FILE_NAME


class InputHistory:
    """Lines typed before, for ↑ and ↓, kept across runs in a file only its owner can read."""

    def __init__(self, path: Path, readline_module: Any, warn: Callable[[str], None]) -> None:
        self._path = path
        self._readline = readline_module
        self._warn = warn
        self._last: str | None = None
        self._warned = False

    def load(self) -> None:
        """Read the file into readline's history, dropping anything that may hold a password.

        The file is UTF-8 whatever the locale. One that cannot be read (bytes that are
        not UTF-8, a folder in its place, no permission) is set aside, never deleted,
        and said in one sentence; the client starts with a new history all the same.
        """
        try:
            os.chmod(self._path, 0o600)  # a file made by hand, or by an older client
            text = self._path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError):
            self._set_aside()
            return
        # split("\n"), not splitlines(): a typed line may hold other line breaks.
        lines = text.removesuffix("\n").split("\n") if text else []
        kept = (history_entry(line) for line in lines if line.strip())
        entries = [entry for entry in kept if entry is not None][-HISTORY_LENGTH:]
        for entry in entries:
            self._remember(entry)
        self._last = entries[-1] if entries else None
        if entries != lines:  # trim it, and heal a file an older client wrote
            self._write_all(entries)

    def _set_aside(self) -> None:
        """Rename the unreadable file to the first free ``historico.estragado-<n>``, and say so."""
        for number in itertools.count(1):
            aside = self._path.with_name(f"{self._path.name}.estragado-{number}")
            if not os.path.lexists(aside):
                break
        try:
            os.rename(self._path, aside)
        except OSError as error:
            self._problem("ler", error)
            return
        self._warn(
            f"O histórico {self._path} não pôde ser lido; ficou guardado como {aside} e um novo começa."
        )

    def _remember(self, entry: str) -> None:
        """Give ``entry`` to readline for ↑; a readline that cannot take it (its locale has no
        such character) leaves it out of this run only: the file keeps it."""
        try:
            self._readline.add_history(entry)
        except UnicodeError:
            return

    def add(self, line: str) -> None:
        """Remember a typed line (without its password), unless it repeats the last one."""
        entry = history_entry(line)
        if entry is None or not entry.strip() or entry == self._last or not _is_utf8(entry):
            return
        self._last = entry
        self._remember(entry)
        self._append(entry)

    def _problem(self, verb: str, error: OSError) -> None:
        """Say once that the file cannot be used; history still works for this run."""
        if not self._warned:
            self._warned = True
            self._warn(f"Não foi possível {verb} o histórico {self._path}: {error.strerror or error}")

    def _append(self, entry: str) -> None:
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with open(descriptor, "a", encoding="utf-8") as file:
                file.write(entry + "\n")
        except OSError as error:
            self._problem("gravar", error)

    def _write_all(self, entries: list[str]) -> None:
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", encoding="utf-8") as file:
                file.writelines(entry + "\n" for entry in entries)
            os.replace(temporary, self._path)
        except OSError as error:
            self._problem("gravar", error)


def _is_utf8(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: not so for bytes typed that were not
    UTF-8, which stdin keeps as surrogates (and the history file would then be unreadable)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- The screen ---------------------------------------------------------------------------


class PlainScreen:
    """Output for pipes and scripts: each line printed as it comes, no prompt.
    ``wraps`` cuts long lines at spaces (a console: :class:`ConsoleScreen`)."""

    def __init__(self, colour: bool, *, wraps: bool = False) -> None:
        self._colour = colour
        self._wraps = wraps
        self._lock = tiered_lock(tiers.SCREEN, "tela")  # one line at a time, from either thread
        self.broken = threading.Event()  # output can no longer be written (a closed pipe)

    def show(self, shown: Shown) -> None:
        text = self._rows(shown)
        with self._lock:
            self._write(text)

    def _rows(self, shown: Shown) -> str:
        """``shown`` as the text to write: its rows, each ending in a line break."""
        rows = wrap(shown, shutil.get_terminal_size().columns) if self._wraps else [shown]
        return "".join((row.painted() if self._colour else row.plain()) + "\n" for row in rows)

    def say(self, text: str, style: Style = Style.PLAIN) -> None:
        """A line of the client's own (not from the server)."""
        self.show(Shown.of(text, style))

    def flush(self) -> None:
        """Print what is waiting (nothing waits here)."""

    def read_line(self) -> str:
        return input()

    def set_prompt(self, prompt: str) -> None:
        """There is no prompt without a terminal."""

    def on_ctrl_c(self, cleared: Callable[[str], None], leave: Callable[[], None]) -> None:
        """What Ctrl-C at the input line does, where :meth:`interrupt` can clear it: give
        ``cleared`` the line it erased (for ↑), or ``leave`` (a second Ctrl-C, line empty)."""

    def interrupt(self) -> bool:
        """Ctrl-C (from the main thread's SIGINT handler): clear the line being typed.
        ``False`` when this screen cannot (no readline hook): then Ctrl-C leaves."""
        return False

    def finish(self) -> None:
        """Leave the terminal as it was found (nothing to do here)."""

    def _write(self, text: str) -> None:
        """Write and flush; a closed pipe or a vanished terminal sets :attr:`broken`."""
        if self.broken.is_set():
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError:
            self.broken.set()


class ConsoleScreen(PlainScreen):
    """A console without readline (Windows, or a Python built without it): the prompt
    (name, ``/conversa`` partner, queue), and messages that come while a line is typed.

    Until Enter, what is typed lives in the console's own line buffer, where no program
    can read it, nor tell whether anything was typed: so it cannot be redrawn. What is
    possible, and done: a message that comes while the keyboard thread waits goes on a
    fresh row below the prompt and whatever was typed on it (which stays there, visible),
    and the prompt is drawn again below the message. What is typed next joins what was
    typed before, in the same buffer: Enter sends them as one line.
    """

    def __init__(self, colour: bool) -> None:
        super().__init__(colour, wraps=True)
        self._prompt = "> "
        self._reading = False  # the prompt is on screen and the keyboard thread waits in input()

    def show(self, shown: Shown) -> None:
        text = self._rows(shown)
        with self._lock:
            self._write(f"\n{text}{self._prompt}" if self._reading else text)

    def set_prompt(self, prompt: str) -> None:
        """Shown from the next line read, or below the next message, whichever comes first."""
        with self._lock:
            self._prompt = prompt

    def read_line(self) -> str:
        with self._lock:
            self._write(self._prompt)
            self._reading = True
        try:
            return input()
        finally:
            with self._lock:
                self._reading = False

    def finish(self) -> None:
        """Rub out the prompt left waiting below the last line (spaces: any console can),
        so that what comes next (the shell's prompt) starts on a clean row."""
        with self._lock:
            if self._reading:
                self._write("\r" + " " * display_width(self._prompt) + "\r")
                self._reading = False


class TerminalScreen(PlainScreen):
    """A prompt with readline, and pushes printed above the line being typed.

    Lines to show are queued. Only the keyboard thread prints them: between
    two lines typed (:meth:`flush`), or from readline's input hook while a line
    is being typed (:meth:`_print_above_input`). Without the hook (a readline
    without the functions it needs, such as libedit), the receiving thread
    prints them itself and rewrites the prompt after them, cursor at the end.
    """

    def __init__(self, colour: bool, readline_module: Any) -> None:
        super().__init__(colour)
        self._readline = readline_module
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._prompt = "> "
        self._shown_prompt = self._prompt  # the prompt on screen now
        self._prompt_changed = False
        self._moves_cursor = os.environ.get("TERM") != "dumb"
        self._restore_terminal = terminal.terminal_restorer(sys.stdin.fileno())
        self._redraw = ReadlineRedraw.load(readline_module)
        # Ctrl-C: the signal handler puts one item per press (put() is reentrant); the
        # keyboard thread takes them in the hook. The rest is the keyboard thread's own.
        self._interrupts: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._ctrl_c_armed = False  # the last Ctrl-C left the line empty: another one leaves
        self._ctrl_c_hinted = False
        self._ctrl_c_cleared: Callable[[str], None] = lambda line: None
        self._ctrl_c_leave: Callable[[], None] = lambda: None
        if self._redraw is not None:
            self._redraw.install_hook(self._between_keys)

    def show(self, shown: Shown) -> None:
        columns = shutil.get_terminal_size().columns
        for row in wrap(shown, columns):
            self._queue.put(row.painted() if self._colour else row.plain())
        if self._redraw is None:  # no hook: print at once, and redraw as well as we can
            self._print_above_input()

    def set_prompt(self, prompt: str) -> None:
        with self._lock:
            self._prompt_changed |= prompt != self._prompt
            self._prompt = prompt

    def flush(self) -> None:
        with self._lock:
            self._write_queued()

    def on_ctrl_c(self, cleared: Callable[[str], None], leave: Callable[[], None]) -> None:
        self._ctrl_c_cleared, self._ctrl_c_leave = cleared, leave

    def interrupt(self) -> bool:
        if self._redraw is None:
            return False
        self._interrupts.put(None)
        return True

    def read_line(self) -> str:
        """Read one line with readline; afterwards, erase it (the reply says what happened)."""
        self.flush()
        with self._lock:
            prompt = self._shown_prompt = self._prompt
            self._prompt_changed = False
        line = input(prompt)
        self._ctrl_c_armed = False
        with self._lock:
            self._erase_typed(self._shown_prompt + line)
        return line

    def finish(self) -> None:
        """Give the terminal back as it was, then print what is left below the prompt."""
        if self._redraw is not None:
            self._redraw.remove_hook()
        with self._lock:
            try:
                self._restore_terminal()
            except OSError:
                self.broken.set()  # the terminal is gone (window closed): nothing to give back
            self._write("\r\x1b[K" if self._moves_cursor else "\n")
            self._write_queued()

    def _write_queued(self) -> None:
        lines = []
        while True:
            try:
                lines.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if lines:
            self._write("".join(line + "\n" for line in lines))

    def _between_keys(self) -> None:
        """The hook: Ctrl-C pressed since the last call, then what is queued to print."""
        while not self._interrupts.empty():
            self._interrupts.get()
            typed = self._readline.get_line_buffer()
            if not typed and self._ctrl_c_armed:
                self._ctrl_c_leave()  # as /sair does; input() is left waiting, the client ends
                return
            self._ctrl_c_armed = True
            if typed:
                self._ctrl_c_cleared(typed)
            if not self._ctrl_c_hinted:
                self._ctrl_c_hinted = True
                self.say(CTRL_C_HINT, Style.NOTICE)
            self._print_above_input(clear_line=True)
        if self._ctrl_c_armed and self._readline.get_line_buffer():
            self._ctrl_c_armed = False  # typing since: the next Ctrl-C clears again
        self._print_above_input()

    def _print_above_input(self, clear_line: bool = False) -> None:
        """Clear the line being typed, print the queue, redraw prompt and text (the hook).
        ``clear_line``: and empty the text typed (Ctrl-C)."""
        if self._queue.empty() and not self._prompt_changed and not clear_line:
            return
        with self._lock:
            if self._redraw is None:
                self._write("\r\x1b[K")
                self._write_queued()
                self._write(self._shown_prompt + self._readline.get_line_buffer())
                return
            self._redraw.clear_input()
            try:
                if clear_line:
                    self._redraw.empty_line()
                self._write_queued()
            finally:  # whatever happened above, the person gets their line back
                if self._prompt_changed:
                    self._redraw.set_prompt(self._prompt)
                    self._shown_prompt = self._prompt
                    self._prompt_changed = False
                self._redraw.redraw_input()

    def _erase_typed(self, echoed: str) -> None:
        """Remove the typed line (all the rows it wrapped onto) that readline left on screen."""
        if not self._moves_cursor:
            return
        try:
            columns = os.get_terminal_size(sys.stdout.fileno()).columns or 80
        except OSError:
            return
        # readline wraps a line that fills the last column too, so this is
        # also right when the width divides evenly.
        rows = display_width(echoed) // columns + 1
        self._write(f"\x1b[{rows}A\r\x1b[J")


class ReadlineRedraw:
    """The few GNU readline calls the ``readline`` module does not offer, through ctypes.

    All of them run in the thread that is inside ``input()``, from
    ``PyOS_InputHook``, between two keys: readline's state is consistent then,
    and no other thread touches it.
    """

    _HOOK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int)

    def __init__(self, library: ctypes.CDLL) -> None:
        self._library = library
        self._libc = ctypes.CDLL(None)
        self._hook: object = None  # kept alive for the life of the process: C may call it
        self._hook_pointer = ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")

    @classmethod
    def load(cls, readline_module: Any) -> ReadlineRedraw | None:
        """``None`` when readline is not GNU readline 7 or newer (e.g. libedit)."""
        try:
            library = ctypes.CDLL(readline_module.__file__)
            names = ("rl_clear_visible_line", "rl_forced_update_display", "rl_set_prompt", "rl_replace_line")
            for name in (*names, "using_history"):
                getattr(library, name)
            ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")
        except (AttributeError, OSError, ValueError):
            return None
        library.rl_set_prompt.argtypes = [ctypes.c_char_p]
        library.rl_replace_line.argtypes = [ctypes.c_char_p, ctypes.c_int]
        return cls(library)

    def install_hook(self, callback: Callable[[], None]) -> None:
        """Have readline call ``callback()`` between keys, about every 100 ms."""

        def hook() -> int:
            try:
                callback()
            except Exception as error:  # never let an exception unwind into C
                sys.stderr.write(f"\r\nErro ao mostrar mensagens: {error}\r\n")
            return 0

        self._hook = self._HOOK_TYPE(hook)
        self._hook_pointer.value = ctypes.cast(self._hook, ctypes.c_void_p).value

    def remove_hook(self) -> None:
        """No more calls (one already running finishes; its callback object stays alive)."""
        self._hook_pointer.value = None

    def clear_input(self) -> None:
        """Erase every screen row the prompt and the typed text occupy; cursor to column 0."""
        self._library.rl_clear_visible_line()
        self._libc.fflush(None)  # readline writes through C stdio, we through Python

    def set_prompt(self, prompt: str) -> None:
        self._library.rl_set_prompt(prompt.encode(sys.stdout.encoding or "utf-8", "replace"))

    def empty_line(self) -> None:
        """Empty the text being typed (cursor at its start), and have ↑ start from the
        newest history line again (one just added included)."""
        self._library.rl_replace_line(b"", 0)
        ctypes.c_int.in_dll(self._library, "rl_point").value = 0
        self._library.using_history()

    def redraw_input(self) -> None:
        """Draw prompt and typed text again on a fresh line, cursor where it was."""
        self._library.rl_forced_update_display()


def make_screen(interactive: bool) -> tuple[PlainScreen, Any]:
    """The screen for this run, and the readline module when it edits the input line."""
    colour = use_colour(sys.stdout.isatty(), os.environ) and terminal.terminal_understands_colour()
    if not interactive:
        return PlainScreen(colour), None
    try:
        import readline
    except ImportError:  # Windows, or a Python built without it: plain input(), still a working client
        return ConsoleScreen(colour), None
    return TerminalScreen(colour, readline), readline


def set_up_readline(readline: Any, online: Callable[[], Iterable[str]]) -> None:
    """Tab completion of commands and online names; history is added by :class:`InputHistory`."""
    candidates: list[str] = []

    def complete(text: str, state: int) -> str | None:
        if state == 0:  # readline asks again with state 1, 2 ... for the same text
            begin = readline.get_begidx()
            candidates[:] = completions(readline.get_line_buffer(), begin, text, online())
        return candidates[state] if state < len(candidates) else None

    readline.set_auto_history(False)  # typed lines go in through InputHistory, minus passwords
    readline.set_completer_delims(" ")  # names may hold "." and "-"
    readline.set_completer(complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
        # Bytes above 127 are text, not Meta keys, even where no UTF-8 locale could be set.
        for setting in ("input-meta on", "output-meta on", "convert-meta off"):
            readline.parse_and_bind(f"set {setting}")

"""The fake agent TUI's terminal: keystrokes in, lines out.

On a terminal, input is read key by key (no line discipline, no echo, ``\\r`` kept apart from ``\\n``), as
an agent TUI reads it: Enter (``\\r``) sends what was typed, a newline inside a pasted or typed-in text
(``\\n``, which is how orcha types a line break) stays in it. The TUI echoes what is typed itself, as
``> text``. Without a terminal (a pipe), each line is one input.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
import termios
from collections.abc import Callable, Iterator
from typing import TextIO

import trio

TTY_MODES = ("-icanon", "-echo", "-icrnl")
"""The pane's terminal settings (``stty``) before the TUI runs, so text typed into it at once is read as the
TUI reads it: key by key, unechoed, Enter apart from a newline."""
BACKSPACE = ("\x7f", "\x08")


class LineEditor:
    """Keystrokes → what to echo, and the inputs sent (Enter). Escape sequences (arrows…) are dropped."""

    def __init__(self, *, submit: str = "\r") -> None:
        self._submit = submit
        self.buffer = ""
        self._escape = ""

    def feed(self, chars: str) -> tuple[str, list[str]]:
        echo: list[str] = []
        sent: list[str] = []
        for char in chars:
            if self._escape:  # ESC [ params final, ESC O x, or ESC x
                self._escape += char
                ended = char not in "[O" if len(self._escape) == 2 else "@" <= char <= "~"
                if ended:
                    self._escape = ""
                continue
            if char == "\x1b":
                self._escape = char
            elif char == self._submit:
                if self.buffer.strip():
                    sent.append(self.buffer)
                    echo.append("\n")
                elif self.buffer:
                    echo.append("\n")
                self.buffer = ""
            elif char == "\n":
                self.buffer += "\n"
                echo.append("\n  ")
            elif char in BACKSPACE:
                if self.buffer and self.buffer[-1] != "\n":
                    self.buffer = self.buffer[:-1]
                    echo.append("\b \b")
            elif char == "\t" or char.isprintable():
                echo.append(("> " if not self.buffer else "") + char)
                self.buffer += char
        return "".join(echo), sent

    def shown(self) -> str:
        """What is being typed, as it is echoed (to show it again after an output line)."""
        return "> " + self.buffer.replace("\n", "\n  ") if self.buffer else ""


class Terminal:
    """The TUI's screen (:class:`~orcha.agents.fake_tui.player.Screen`) and keyboard."""

    def __init__(self, fd: int | None = None, out: TextIO | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._out = out or sys.stdout
        self.is_tty = os.isatty(self.fd)
        self.editor = LineEditor(submit="\r" if self.is_tty else "\n")

    @contextlib.contextmanager
    def keys(self) -> Iterator[None]:
        """Read key by key, unechoed, for the duration (a terminal only; restored after)."""
        if not self.is_tty:
            yield
            return
        saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[0] &= ~termios.ICRNL
        mode[3] &= ~(termios.ICANON | termios.ECHO)
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        try:
            yield
        finally:
            termios.tcsetattr(self.fd, termios.TCSANOW, saved)

    def write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def line(self, text: str, *reports: str) -> None:
        """One output line (more lines: indented), with ``reports`` on its first line; what is being typed
        is shown again below it."""
        typing = self.editor.shown()
        head, *rest = text.split("\n")
        body = "".join(reports) + head + "".join(f"\n    {more}" for more in rest)
        self.write(("\n" if typing else "") + body + "\n" + typing)

    async def read_inputs(self, send: trio.MemorySendChannel[str], *, busy: Callable[[], bool] | None = None) -> None:
        """Read keys until the input ends, echoing them and sending each input; closes ``send`` at the end.
        ``busy`` says whether a turn is being played: an input sent then is said to be queued."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        async with send:
            while True:
                data = await trio.to_thread.run_sync(os.read, self.fd, 4096, abandon_on_cancel=True)
                echo, sent = self.editor.feed(decoder.decode(data, final=not data))
                if echo:
                    self.write(echo)
                for text in sent:
                    if busy is not None and busy():
                        self.line("  ⎿  queued: I take it when this turn ends")
                    await send.send(text)
                if not data:
                    return

"""Reading a tmux pane's log from a byte offset, with the exact offset just past each line.

The pane's bytes (any bytes: invalid UTF-8, ``\\r``, escapes, NULs) are read through an executor by
``tail -c +N -F log | sed -u -n 'l 0;z;p'``: ``l 0`` prints each line in sed's unambiguous form (pure
ASCII: ``\\\\``, ``\\a \\b \\t \\n \\v \\f \\r``, ``\\ooo`` for every other byte outside 32..126, then
``$``), so the executor's text decoding loses nothing, and ``z;p`` then prints an empty line only when the
input line ended in a newline. A line is consumed when its empty line arrives: a partial line (a prompt
still waiting for input) that sed flushes when its input ends is never counted.

Needs GNU ``tail`` and GNU ``sed`` (``-u``, ``l 0``, ``z``) on the pane's machine.
"""

from __future__ import annotations

import codecs
import shlex

from orcha.executor import Executor

LIST_SCRIPT = "l 0;z;p"


def reader_argv(path: str, offset: int) -> list[str]:
    """The command that prints the log ``path`` from byte ``offset`` on (and follows it), framed as above.

    It follows the log only as long as whoever started it lives (``tail --pid`` of the shell's parent: orcha,
    or the SSH session's shell): a reader of an orcha that was killed exits by itself within a second."""
    if offset < 0:
        raise ValueError(f"a pane log offset is a byte count, not {offset}")
    tail = f'tail -c +{offset + 1} -F --pid="$PPID" -- {shlex.quote(path)}'
    sed = shlex.join(["env", "LC_ALL=C", "sed", "-u", "-n", LIST_SCRIPT])
    return ["sh", "-c", f"{tail} | {sed}"]


def unlist(listed: str) -> bytes:
    """The bytes of a line that ``sed -n 'l 0'`` printed as ``listed`` (its final ``$`` removed): sed's
    escapes (``\\\\``, ``\\a \\b \\t \\n \\v \\f \\r``, ``\\ooo``) are Python's bytes escapes, decoded in C."""
    return codecs.escape_decode(listed.encode("utf-8"))[0]


class PaneLines:
    """Turns the reader's output lines back into the log's lines, counting the bytes they took."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset
        """The byte offset just past the last complete line returned."""
        self._pending: bytes | None = None

    def feed(self, out: str) -> bytes | None:
        """Take one output line of the reader; return a log line (without its newline) once it is complete."""
        if out:
            self._pending = unlist(out.removesuffix("$"))
            return None
        line, self._pending = self._pending, None
        if line is not None:
            self.offset += len(line) + 1
        return line


async def log_size(executor: Executor, path: str) -> int | None:
    """The size of the file ``path`` in bytes; ``None`` when it cannot be read (it is gone)."""
    result = await executor.run(["wc", "-c", "--", path])
    words = result.stdout.split()
    return int(words[0]) if result.ok and words and words[0].isdigit() else None

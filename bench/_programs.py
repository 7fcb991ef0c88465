"""Trivial real programs standing in for an agent CLI: a ``codex exec --json`` that answers at once, or hangs
(cooperatively, or ignoring SIGTERM) until it is killed."""

from __future__ import annotations

import os
import pathlib

FAKE_CODEX = """#!/bin/sh
# A trivial `codex exec --json`: the prompt on stdin is "<mode> [pidfile]".
#   quick             print a thread, one message and the turn's end, then exit
#   hang <pidfile>    write this shell's pid and a child's pid to <pidfile>, then wait for the end
#   ignore <pidfile>  the same, with SIGTERM ignored by both (only SIGKILL ends them)
prompt=$(cat)
set -- $prompt
printf '{"type":"thread.started","thread_id":"bench-%s"}\\n' "$$"
case "$1" in
  hang|ignore)
    [ "$1" = ignore ] && trap '' TERM
    sleep 3600 &
    printf '%s\\n%s\\n' "$$" "$!" > "$2.tmp" && mv "$2.tmp" "$2"
    wait
    ;;
esac
printf '{"type":"item.completed","item":{"id":"m1","type":"agent_message","text":"done"}}\\n'
printf '{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":2}}\\n'
"""


def fake_codex(folder: pathlib.Path) -> pathlib.Path:
    path = folder / "fake-codex"
    path.write_text(FAKE_CODEX)
    os.chmod(path, 0o755)
    return path

"""Figure S, storage: bytes of database per byte of transcript text, for a realistic mix of line lengths
(most lines 40-200 characters, about 5% over 1,000, some of 4-20 KB).

The lines go through the store's own ``append_transcript`` (as the session actors' group commits do: many
lines a transaction, several sessions interleaved) into a fresh database; the count is the file's size after
the store closes (the WAL checkpointed into it) divided by the UTF-8 bytes of the bodies.
"""

from __future__ import annotations

import os
import pathlib
import random
import tempfile

from bench._result import Result

FIGURE = "S"
TITLE = "storage"
TARGET = "≤ 1.3"
WORDS = (  # noqa: SIM905 - words of prose, code and logs
    "the a to of and in is it that for on with as was this file test error function return value line "
    "import module session orcha agent build passed failed def class self None True False assert print "
    'src/orcha/actors/session.py tests/test_store.py 0x7f3a 1234 {"type": "item"} -> => :: [ok]'
).split()


def line_lengths(count: int, chosen: random.Random) -> list[int]:
    """~93% of 40-200 characters, ~5% of 1,000-4,000, ~2% of 4-20 KB."""
    lengths = []
    for _ in range(count):
        pick = chosen.random()
        if pick < 0.93:
            lengths.append(chosen.randint(40, 200))
        elif pick < 0.98:
            lengths.append(chosen.randint(1000, 4000))
        else:
            lengths.append(chosen.randint(4096, 20480))
    return lengths


def text_of(length: int, chosen: random.Random) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = chosen.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def run(smoke: bool) -> Result:
    from orcha.io.store import Store
    from orcha.model import TranscriptKind, TranscriptLine

    lines, sessions, batch = (5_000, 5, 250) if smoke else (200_000, 50, 500)
    chosen = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="orcha-bench-") as tmp:
        path = pathlib.Path(tmp) / "orcha.db"
        store = Store(path)
        ids = []
        for n in range(sessions):
            _, manager = store.create_objective(title=f"storage {n}", prompt="p", agent="claude")
            ids.append(manager.id)
        store.close()
        empty = os.path.getsize(path)
        store = Store(path)
        text_bytes = 0
        pending: list[TranscriptLine] = []
        kinds = [TranscriptKind.TEXT] * 6 + [TranscriptKind.TOOL_CALL, TranscriptKind.TOOL_RESULT]
        for n, length in enumerate(line_lengths(lines, chosen)):
            body = text_of(length, chosen)
            text_bytes += len(body.encode())
            pending.append(TranscriptLine(session_id=ids[n % sessions], kind=kinds[n % len(kinds)], body=body))
            if len(pending) >= batch:
                store.append_transcript(pending)
                pending = []
        if pending:
            store.append_transcript(pending)
        store.close()
        size = sum(os.path.getsize(p) for p in path.parent.iterdir() if p.name.startswith("orcha.db"))
    ratio = size / text_bytes
    return Result(
        figure=FIGURE,
        title=TITLE,
        orcha=ratio,
        baseline=None,
        ratio=None,
        unit="",
        target=TARGET,
        passed=ratio <= 1.3,
        orcha_text=f"{ratio:.2f} bytes/byte",
        notes=f"{lines:,} lines, {text_bytes / 1e6:,.1f} MB of text -> {size / 1e6:,.1f} MB of database",
        metrics={"lines": lines, "text_bytes": text_bytes, "database_bytes": size, "empty_database_bytes": empty},
    )

"""Big databases for the dashboard and cold-start figures, built once and cached under ``bench/.cache/``.

The schema is orcha's own (a :class:`~orcha.io.store.Store` opened on the new file runs the migrations); the
rows of history (objectives, sessions, pull requests, questions, audit events) go in by raw SQL into that
schema, in a few big transactions, and transcripts through the store's own ``append_transcript`` (so they
are stored as orcha stores them, redaction and seqs included). A cached file's name carries its shape and a
digest of the migrations, so a schema change builds afresh.

Shape: ``objectives`` objectives of ``sessions_per_objective`` sessions each (a manager, then workers);
the first ``live`` objectives are active with live work (a manager, two running workers, an open question),
the rest are done with every session finished. ``prs_per_objective`` merged or closed pull requests belong to
each objective's finished workers; each session has ``lines`` transcript lines of ``line_chars`` characters.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import random
import shutil
import time
from collections.abc import Iterator

import apsw
import attrs

from bench._harness import CACHE
from orcha.oneline import SCAN_LINES

GENERATOR_VERSION = 4
EPOCH = 1_780_000_000.0
"""History starts here (fixed, so a cached database and a fresh one agree)."""


@attrs.frozen(kw_only=True)
class Shape:
    objectives: int
    sessions_per_objective: int = 10
    live: int = 10
    prs_per_objective: int = 2
    lines: int = 0
    line_chars: int = 100
    events_per_session: int = 3

    @property
    def sessions(self) -> int:
        return self.objectives * self.sessions_per_objective

    def key(self) -> str:
        return (
            f"o{self.objectives}x{self.sessions_per_objective}-live{self.live}-pr{self.prs_per_objective}"
            f"-t{self.lines}x{self.line_chars}-e{self.events_per_session}"
        )


def _schema_digest() -> str:
    from orcha.io.store._schema import MIGRATIONS

    return hashlib.sha256(json.dumps(MIGRATIONS).encode()).hexdigest()[:10]


def cached(shape: Shape, *, seq_only: bool = False) -> pathlib.Path:
    """The database of ``shape``, built if the cache does not hold it yet. With ``seq_only``, the same rows
    but each session's transcript pruned to its newest lines, copied from the full one: its last (so its line
    count is the same), the newest :data:`~orcha.oneline.SCAN_LINES` of a live session (what its summary is
    read from when orcha starts it again); and what each session is doing now (``session_now``) as the full
    one has it: the baseline of "the same with no transcripts"."""
    CACHE.mkdir(parents=True, exist_ok=True)
    full = cached(shape) if seq_only and shape.lines else None
    name = f"{shape.key()}{'-seqonly-tail' if seq_only else ''}-g{GENERATOR_VERSION}-s{_schema_digest()}.db"
    path = CACHE / name
    if path.exists():
        return path
    building = path.with_suffix(f".building-{os.getpid()}")
    for leftover in (building, building.with_name(building.name + "-wal"), building.with_name(building.name + "-shm")):
        leftover.unlink(missing_ok=True)
    _build(building, shape, seq_only=seq_only, summaries_from=full)
    os.replace(building, path)
    return path


def _ident(prefix: str, number: int) -> str:
    return f"{prefix}_{number:012x}"


def _build(path: pathlib.Path, shape: Shape, *, seq_only: bool, summaries_from: pathlib.Path | None = None) -> None:
    from orcha.io.store import Store

    Store(path).close()  # the schema, by orcha's own migrations
    conn = apsw.Connection(str(path))
    try:
        conn.pragma("journal_mode", "off")
        conn.pragma("synchronous", "off")
        conn.pragma("cache_size", -200_000)
        conn.execute("BEGIN")
        _history(conn, shape)
        conn.execute("COMMIT")
        if summaries_from is not None:  # the full one's newest lines only: its line count, and what a summary reads
            conn.execute("ATTACH DATABASE ? AS full", (str(summaries_from),))
            conn.execute(
                "INSERT INTO transcript_lines (key, kind, body, ts)"
                " SELECT t.key, t.kind, t.body, t.ts FROM sessions s JOIN full.transcript_lines t"
                " ON t.key <= s.num * ? + ? AND t.key > s.num * ? + ? - (CASE WHEN s.status IN"
                " ('completed', 'failed', 'canceled') THEN 1 ELSE ? END)",
                (2**32, shape.lines, 2**32, shape.lines, SCAN_LINES),
            )
            conn.execute("INSERT INTO session_now SELECT * FROM full.session_now")  # its state, as its count
            conn.execute("DETACH DATABASE full")
    finally:
        conn.close()
    if shape.lines and not seq_only:
        _transcripts(path, shape)
    conn = apsw.Connection(str(path))
    try:
        conn.pragma("journal_mode", "wal")  # as orcha leaves its files (and no ANALYZE: orcha runs none, so
        # SQLite plans a user's years of history with its defaults, and so must the figures)
    finally:
        conn.close()


def _history(conn: apsw.Connection, shape: Shape) -> None:
    chosen = random.Random(16)
    objectives: list[tuple[object, ...]] = []
    sessions: list[tuple[object, ...]] = []
    prs: list[tuple[object, ...]] = []
    questions: list[tuple[object, ...]] = []
    events: list[tuple[float, str, str, str | None, str]] = []
    span = 90 * 86400.0
    for o in range(shape.objectives):
        objective_id = _ident("obj", o)
        live = o < shape.live
        created = EPOCH + span * (o / max(1, shape.objectives)) if not live else EPOCH + span
        ended = created + chosen.uniform(600, 7200)
        status = "active" if live else chosen.choice(["done"] * 8 + ["canceled", "failed"])
        title = f"Objective {o}: " + chosen.choice(["port", "fix", "refactor", "document", "speed up"]) + " module"
        objectives.append(
            (objective_id, title, f"{title}. Details follow.", "claude", status, None, None,
             None if live else f"{title}: done", created, created if live else ended)
        )  # fmt: skip
        events.append((created, "objective_created", objective_id, None, "{}"))
        manager_id = _ident("ses", o * shape.sessions_per_objective)
        for k in range(shape.sessions_per_objective):
            session_id = _ident("ses", o * shape.sessions_per_objective + k)
            role = "manager" if k == 0 else "worker"
            if live:
                session_status = ("waiting_input" if k == 0 else "running") if k <= 2 else "completed"
            else:
                session_status = "completed" if k == 0 else chosen.choice(["completed"] * 8 + ["failed", "canceled"])
            started = created + k * 5
            updated = created + 60 + k if live else ended - chosen.uniform(0, 300)
            reason = None if session_status in ("running", "waiting_input") else f"{session_status}: turn ended"
            sessions.append(
                (session_id, objective_id, role, "claude", f"Part {k} of {title}", session_status,
                 "interactive", None if k == 0 else manager_id, f"printer-{session_id}", reason,
                 chosen.randint(3, 60), chosen.randint(0, 2), chosen.randint(10_000, 900_000),
                 chosen.randint(1_000, 90_000), round(chosen.uniform(0.01, 4.0), 4), started, updated)
            )  # fmt: skip
            for e in range(shape.events_per_session):
                events.append((started + e, "session_status", objective_id, session_id, '{"new": "running"}'))
        if live:
            questions.append(
                (_ident("q", o), objective_id, manager_id, "user", f"For objective {o}: which license?", "open",
                 created + 30)
            )  # fmt: skip
        first = 3 if live else 1  # a live objective's PRs are its finished workers'
        for p in range(shape.prs_per_objective):
            k = first + p % max(1, shape.sessions_per_objective - first)
            worker = _ident("ses", o * shape.sessions_per_objective + k)
            number = o * shape.prs_per_objective + p + 1
            prs.append(
                (_ident("pr", number), objective_id, worker, f"https://forge.example/bench/pull/{number}",
                 number, f"orcha/{worker}", "main", f"{title}, part {p}", chosen.choice(["merged", "closed"]),
                 f"{number:040x}", ended - 600, ended)
            )  # fmt: skip
    conn.executemany(
        "INSERT INTO objectives (id, title, prompt, agent, status, repo, base_branch, summary, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        objectives,
    )
    conn.executemany(
        "INSERT INTO sessions (id, objective_id, role, agent, prompt, status, mode, parent_session_id,"
        " provider_session_id, status_reason, model_calls, errors, input_tokens, output_tokens, cost_usd,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sessions,
    )
    conn.execute("UPDATE sessions SET num = rowid WHERE num IS NULL")  # each session's number, as orcha gives one
    conn.executemany(
        "INSERT INTO pull_requests (id, objective_id, session_id, url, number, branch, base, title, state,"
        " head_sha, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        prs,
    )
    conn.executemany(
        "INSERT INTO questions (id, objective_id, asked_by, audience, text, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        questions,
    )
    conn.executemany(
        "INSERT INTO events (ts, kind, objective_id, session_id, data) VALUES (?, ?, ?, ?, ?)", sorted(events)
    )


def _transcripts(path: pathlib.Path, shape: Shape) -> None:
    """Every session's lines, appended through the store in batches of many sessions' lines."""
    from orcha.io.store import Store
    from orcha.model import TranscriptKind, TranscriptLine

    filler = "".join(random.Random(3).choice("abcdefghij klmnopqrstuvwxyz") for _ in range(4096))
    kinds = [TranscriptKind.TEXT] * 6 + [TranscriptKind.TOOL_CALL, TranscriptKind.TOOL_RESULT]

    def lines_of(number: int) -> Iterator[TranscriptLine]:
        session_id = _ident("ses", number)
        for n in range(shape.lines):
            head = f"{session_id} line {n}: "
            offset = (number * 31 + n * 17) % (len(filler) - shape.line_chars)
            yield TranscriptLine(
                session_id=session_id,
                kind=kinds[n % len(kinds)],
                body=head + filler[offset : offset + max(0, shape.line_chars - len(head))],
                ts=EPOCH + number + n * 0.5,
            )

    store = Store(path)
    try:
        batch: list[TranscriptLine] = []
        for number in range(shape.sessions):
            batch.extend(lines_of(number))
            if len(batch) >= 20_000:
                store.append_transcript(batch)
                batch = []
        if batch:
            store.append_transcript(batch)
    finally:
        store.close()


def working_copy(source: pathlib.Path, folder: pathlib.Path, name: str = "orcha.db") -> pathlib.Path:
    """A private copy of a cached database to serve (a server writes to what it serves)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)
    return target


def build_seconds(shape: Shape, *, seq_only: bool = False) -> float:
    started = time.perf_counter()
    cached(shape, seq_only=seq_only)
    return time.perf_counter() - started

"""Crashes and restarts cost nothing: `orcha serve` killed with SIGKILL again and again makes what an
uninterrupted run makes, loses no line an SSE client saw, and leaves no process and no held slot behind."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.crashloop import Readers, Server, all_done, crash_loop, marked_processes, stored_lines, tally, wait_until
from tests.gitfixtures import Origin

KILLS = 10
SEED = int(os.environ.get("ORCHA_CRASH_SEED", "1515"))
TITLES = ("alpha", "beta", "gamma")


def _run(root: pathlib.Path, *, kills: int, repo: str | None) -> tuple[dict, Readers | None, Server]:
    root.mkdir()
    server = Server(root, "--schedule-interval", "0.2")
    server.start()
    body = {"prompt": "Do the thing.", "agent": "claude", **({"repo": repo} if repo else {})}
    objective_ids = [server.post("/api/objectives", {**body, "title": title})["id"] for title in TITLES]
    readers = Readers(server) if kills else None
    if readers is not None:
        readers.follow(objective_ids)
        crash_loop(server, objective_ids, kills=kills, seed=SEED, readers=readers)
    wait_until(
        lambda: all_done(server, objective_ids),
        120,
        "every objective to be done",
        poll=(lambda: readers.follow(objective_ids)) if readers is not None else lambda: None,
    )
    if readers is not None:
        readers.follow(objective_ids)
        readers.finish()
    server.stop()
    return tally(server.db), readers, server


@pytest.mark.parametrize("with_repo", [False, True], ids=["plain", "bare-repo"])
def test_a_crash_loop_makes_what_an_uninterrupted_run_makes(tmp_path, with_repo):
    repo = str(Origin(tmp_path).path) if with_repo else None
    calm, _, _ = _run(tmp_path / "calm", kills=0, repo=repo)
    crashed, readers, server = _run(tmp_path / "crashed", kills=KILLS, repo=repo)
    assert readers is not None
    failure = f"seed {SEED} (ORCHA_CRASH_SEED); server log:\n{server.tail()}"

    assert calm["integrity"] == crashed["integrity"] == [("ok",)]
    assert all(o["status"] == "done" for o in crashed["objectives"].values()), failure
    assert crashed["objectives"] == calm["objectives"], failure  # workers, PRs, questions, notes, checkouts
    expected = {"workers": 2, "managers": 1, "prs": 2, "questions": 1, "checkouts": 2 if with_repo else 0}
    assert all(o[k] == v for o in calm["objectives"].values() for k, v in expected.items()), calm
    assert crashed["branches_with_two_prs"] == []
    assert crashed["slots_held"] == 0
    for session_id, reader in readers.by_session.items():  # every line a client saw is stored, once
        stored = stored_lines(server.db, session_id)
        assert reader.lines == stored[: len(reader.lines)], f"{session_id}: {failure}"
        assert len({seq for seq, _, _ in reader.lines}) == len(reader.lines)
    assert marked_processes(server.mark) == []

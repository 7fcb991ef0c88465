"""Exactly-once effects in the store: the record and its key in one transaction, so a replayed request
(an agent restarted after a crash) returns the first record, also when two connections race."""

from __future__ import annotations

import threading

from orcha.effects import EffectKey
from orcha.io.store import Store
from orcha.model import Audience, QuestionStatus, SessionStatus

S = SessionStatus


def _manager(store: Store):
    objective, manager = store.create_objective(title="t", prompt="p", agent="fake")
    return objective, manager


def test_a_replayed_spawn_returns_the_session_it_made(store):
    objective, manager = _manager(store)
    key = EffectKey(manager.id, "call:toolu_1")
    first = store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key)
    again = store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key)
    assert again.id == first.id
    assert store.find_effect(key, "spawn_session") == first.id
    assert [s.id for s in store.list_sessions(objective_id=objective.id) if s.id != manager.id] == [first.id]


def test_a_call_id_replay_returns_the_first_even_once_it_has_ended(store):
    objective, manager = _manager(store)
    key = EffectKey(manager.id, "call:toolu_1")
    first = store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key)
    store.update_session_status(first.id, S.CANCELED, reason="test")
    assert store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key).id == first.id


def test_an_arguments_replay_returns_a_live_first_but_an_ended_one_is_made_anew(store):
    objective, manager = _manager(store)
    key = EffectKey(manager.id, "args:abc")
    first = store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key)
    assert store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key).id == first.id
    store.update_session_status(first.id, S.CANCELED, reason="test")
    assert store.find_effect(key, "spawn_session") is None
    retry = store.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key)
    assert retry.id != first.id and store.find_effect(key, "spawn_session") == retry.id


def test_a_question_asked_again_is_the_open_one_and_a_new_one_once_answered(store):
    objective, manager = _manager(store)
    key = EffectKey(manager.id, "args:q")

    def ask():
        return store.ask_question(objective_id=objective.id, asked_by=manager.id, text="which db?", effect=key)

    first = ask()
    assert ask().id == first.id
    store.close_question(first.id, QuestionStatus.ANSWERED, answer="sqlite")
    later = ask()
    assert later.id != first.id and later.status is QuestionStatus.OPEN
    assert len(store.list_questions(objective_id=objective.id)) == 2


def test_artifacts_and_notes_are_recorded_once_per_key(store):
    objective, manager = _manager(store)
    key = EffectKey(manager.id, "call:toolu_9")
    arguments = {"objective_id": objective.id, "session_id": manager.id}
    artifact = store.add_artifact(**arguments, name="report", uri="file:///r", effect=key)
    assert store.add_artifact(**arguments, name="report", uri="file:///r", effect=key).id == artifact.id
    note_key = EffectKey(manager.id, "call:toolu_10")
    note = store.add_note(**arguments, text="n", effect=note_key)
    assert store.add_note(**arguments, text="n", effect=note_key).id == note.id
    assert len(store.list_artifacts(objective.id)) == 1 and len(store.list_notes(objective.id)) == 1


def test_the_same_key_from_another_session_is_another_request(store):
    objective, manager = _manager(store)
    worker = store.create_session(objective_id=objective.id, agent="fake", prompt="w")
    for asker in (manager.id, worker.id):
        store.ask_question(
            objective_id=objective.id, asked_by=asker, text="same", audience=Audience.USER, effect=EffectKey(asker, "k")
        )
    assert len(store.list_questions(objective_id=objective.id)) == 2


def test_two_connections_replaying_one_spawn_at_once_make_one_session(db_path):
    with Store(db_path) as store:
        objective, manager = _manager(store)
    key = EffectKey(manager.id, "call:toolu_race")
    barrier = threading.Barrier(4)
    made: list[str] = []

    def spawn() -> None:
        with Store(db_path) as mine:
            barrier.wait()
            made.append(mine.create_session(objective_id=objective.id, agent="fake", prompt="a", effect=key).id)

    threads = [threading.Thread(target=spawn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 4 and len(set(made)) == 1
    with Store(db_path) as store:
        assert len(store.list_sessions(objective_id=objective.id)) == 2  # the manager and one worker

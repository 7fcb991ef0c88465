"""Effect keys: a provider's call id wins; without one, the tool and its arguments, in any key order."""

from __future__ import annotations

from orcha.effects import EffectKey, effect_key, replays


def test_a_call_id_is_the_key_whatever_the_arguments():
    assert effect_key("s1", "spawn_session", {"prompt": "a"}, "toolu_1") == EffectKey("s1", "call:toolu_1")
    assert effect_key("s1", "spawn_session", {"prompt": "b"}, "toolu_1") == EffectKey("s1", "call:toolu_1")


def test_without_a_call_id_the_same_request_has_the_same_key_in_any_order():
    first = effect_key("s1", "spawn_session", {"prompt": "a", "agent": "claude"})
    again = effect_key("s1", "spawn_session", {"agent": "claude", "prompt": "a"})
    assert first == again and first.key.startswith("args:") and not first.by_call_id
    assert effect_key("s1", "spawn_session", {"prompt": "b"}) != first
    assert effect_key("s1", "ask_user", {"prompt": "a", "agent": "claude"}) != first  # another tool
    assert effect_key("s2", "spawn_session", {"prompt": "a", "agent": "claude"}) != first  # another asker


def test_a_call_id_replay_always_returns_the_first_an_arguments_replay_only_while_it_is_live():
    by_call, by_args = EffectKey("s", "call:x"), EffectKey("s", "args:y")
    assert replays(by_call, first_is_live=True) and replays(by_call, first_is_live=False)
    assert replays(by_args, first_is_live=True) and not replays(by_args, first_is_live=False)

"""The core's view of the store stays in step with the store: every public method, the same parameters."""

from __future__ import annotations

import inspect

import pytest

from orcha import ports
from orcha.io.store import Store
from orcha.model import SessionStatus
from orcha.store_port import StorePort


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    methods = {}
    for name in dir(cls):
        if name.startswith("_") or isinstance(inspect.getattr_static(cls, name), property):
            continue
        member = getattr(cls, name)
        if inspect.isfunction(member):
            methods[name] = inspect.signature(member)
    return methods


STORE = _public_methods(Store)
PORT = _public_methods(StorePort)


def _shape(signature: inspect.Signature) -> list[tuple[str, inspect._ParameterKind, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_port_has_every_public_method_of_the_store_and_nothing_else():
    assert len(STORE) > 50
    assert sorted(STORE) == sorted(PORT)


@pytest.mark.parametrize("name", sorted(STORE))
def test_each_port_method_has_the_parameters_of_the_store_method(name):
    assert _shape(PORT[name]) == _shape(STORE[name])
    assert PORT[name].return_annotation == STORE[name].return_annotation
    assert [p.annotation for p in PORT[name].parameters.values()] == [
        p.annotation for p in STORE[name].parameters.values()
    ]


def test_each_port_method_says_what_it_does_in_one_line():
    for name in PORT:
        doc = inspect.getdoc(getattr(StorePort, name))
        assert doc, name
        assert "\n" not in doc, name


def test_call_binds_its_arguments_now_and_calls_the_method_of_that_name():
    class FakeStore:
        def update_session_status(self, session_id, status, *, reason=None):
            return (session_id, status, reason)

    calls = []
    for sid in ("a", "b"):
        calls.append(ports.call(StorePort.update_session_status, sid, SessionStatus.QUEUED, reason="r"))
    assert [fn(FakeStore()) for fn in calls] == [("a", SessionStatus.QUEUED, "r"), ("b", SessionStatus.QUEUED, "r")]

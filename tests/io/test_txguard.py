"""No external call (process, network) while a database transaction is open."""

from __future__ import annotations

import socket
import subprocess

import pytest

from orcha.errors import ExternalCallInTransactionError
from orcha.io import txguard
from orcha.io.store._db import Database


def test_starting_a_process_inside_a_transaction_is_refused_and_rolls_back(db_path):
    db = Database(db_path)
    with pytest.raises(ExternalCallInTransactionError, match="subprocess"), db.write() as tx:
        tx.event("about_to_shell_out")
        subprocess.run(["true"], check=True)
    with db.read() as tx:
        assert tx.value("SELECT COUNT(*) FROM events WHERE kind = 'about_to_shell_out'") == 0
    db.close()


def test_connecting_a_socket_inside_a_transaction_is_refused(db_path):
    db = Database(db_path)
    with pytest.raises(ExternalCallInTransactionError, match="socket"), db.read():
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
    db.close()


def test_outside_a_transaction_external_calls_run(db_path):
    db = Database(db_path)
    with db.write() as tx:
        tx.event("before")
    assert not txguard.in_transaction()
    assert subprocess.run(["true"], check=False).returncode == 0
    txguard.ensure_no_transaction("git push")
    db.close()


def test_a_transaction_cannot_nest(db_path):
    db = Database(db_path)
    with pytest.raises(Exception, match="nested"), db.write(), db.write():
        pass
    db.close()

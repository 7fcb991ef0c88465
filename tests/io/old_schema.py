"""A database as an earlier orcha left it: the migrations up to a version, and one active objective."""

from __future__ import annotations

import apsw

from orcha.io.store._schema import MIGRATIONS


def database_at(db_path: object, version: int) -> apsw.Connection:
    """A connection to a new database at schema ``version`` (not yet recorded: the caller sets
    ``user_version`` once its rows are in), holding the objective ``obj_1`` ("kept")."""
    conn = apsw.Connection(str(db_path))
    for _, sql in MIGRATIONS[:version]:
        conn.execute(sql)
    conn.execute(
        "INSERT INTO objectives (id, title, prompt, agent, status, created_at, updated_at)"
        " VALUES ('obj_1', 'kept', 'p', 'fake', 'active', 0, 0)"
    )
    return conn

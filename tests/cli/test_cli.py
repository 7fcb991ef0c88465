"""The command line: clear messages, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from orcha.io.store import SCHEMA_VERSION


def _orcha(*args: str, env_db: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orcha", *args], capture_output=True, text=True, timeout=60)


def test_db_upgrade_creates_the_database_and_info_describes_it(tmp_path):
    db = tmp_path / "nested" / "orcha.db"
    created = _orcha("db", "upgrade", "--db", str(db))
    assert created.returncode == 0, created.stderr
    assert f"schema version {SCHEMA_VERSION}" in created.stdout
    info = _orcha("db", "info", "--db", str(db))
    assert info.returncode == 0, info.stderr
    assert "objectives      0" in info.stdout


def test_info_on_a_missing_database_is_a_message_not_a_traceback(tmp_path):
    result = _orcha("db", "info", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 2
    assert "no database" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_a_usage_error():
    result = _orcha("fly")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr

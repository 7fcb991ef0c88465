"""`orcha logs -f` across a server restart: it reconnects with Last-Event-ID and prints every line once, in order."""

from __future__ import annotations

import json
import subprocess
import time

from tests.cli.served_cli import PYTHON, Server, free_port


def test_logs_follow_survives_a_server_restart_and_prints_every_line_once(tmp_path):
    server = Server(home=str(tmp_path), port=free_port())
    server.start()
    follower = None
    try:
        created = server.json("objective", "new", "Restarted", "--agent", "claude")
        manager = created["manager_session_id"]
        follower = subprocess.Popen(
            [*PYTHON, "logs", "-f", manager[:10], "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=server.env,
        )
        assert follower.stdout is not None and follower.stderr is not None
        first = json.loads(follower.stdout.readline())
        assert first["seq"] == 1
        server.stop()  # mid-stream: the manager has more to say once it is back
        time.sleep(1.0)  # the follower finds the server gone and retries meanwhile
        server.start()
        rest, stderr = follower.communicate(timeout=120)
        assert follower.returncode == 0, stderr
        printed = [first] + [json.loads(line) for line in rest.splitlines()]
        seqs = [line["seq"] for line in printed]
        assert seqs == list(range(1, len(seqs) + 1)), seqs  # each once, in order, none missing
        stored = [json.loads(line) for line in server.ok("logs", manager, "--json").splitlines()]
        assert [(s["seq"], s["body"]) for s in stored] == [(p["seq"], p["body"]) for p in printed]
        assert any(p["kind"] == "system" and "orcha stopped" in p["body"] for p in printed)  # it lived through it
        assert "reconnecting" in stderr and "reconnected" in stderr and f"{manager} ended (completed)" in stderr
        assert "Traceback" not in stderr
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.communicate()
        server.stop()

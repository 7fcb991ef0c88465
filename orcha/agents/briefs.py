"""What each role is told before its first turn, whatever the provider (Claude: ``--append-system-prompt``;
Codex: ``-c developer_instructions=…``)."""

from __future__ import annotations

from orcha.model import SessionRole

ROLE_BRIEFS = {
    SessionRole.MANAGER: (
        "You are the manager of an orcha objective. Split the work and start workers with the orcha "
        "spawn_session tool, follow them with list_sessions / session_status / read_transcript, ask the user "
        "with ask_user only when you must, and call mark_objective_done with a summary when the objective is met."
    ),
    SessionRole.WORKER: (
        "You are a worker in an orcha team. Do the task in your working directory, commit your changes, then "
        "publish them with the orcha publish_pr tool (use update_pr to push more to an existing PR)."
    ),
}

"""The schema, as ordered forward migrations; ``PRAGMA user_version`` records how many have run."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "initial schema",
        """
        CREATE TABLE objectives (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            prompt TEXT NOT NULL,
            agent TEXT NOT NULL,
            status TEXT NOT NULL,
            repo TEXT,
            base_branch TEXT,
            summary TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX objectives_by_status ON objectives(status, updated_at);

        CREATE TABLE targets (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            host TEXT,
            user TEXT,
            port INTEGER,
            work_root TEXT NOT NULL,
            capacity_sessions INTEGER NOT NULL CHECK (capacity_sessions >= 0),
            status TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );

        CREATE TABLE workspaces (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            kind TEXT NOT NULL,
            target_id TEXT REFERENCES targets(id),
            path TEXT,
            repo TEXT,
            base_branch TEXT,
            branch TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX workspaces_by_objective ON workspaces(objective_id);

        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            role TEXT NOT NULL,
            agent TEXT NOT NULL,
            prompt TEXT NOT NULL,
            status TEXT NOT NULL,
            mode TEXT NOT NULL,
            target_id TEXT REFERENCES targets(id),
            workspace_id TEXT REFERENCES workspaces(id),
            parent_session_id TEXT REFERENCES sessions(id),
            provider_session_id TEXT,
            attach_command TEXT,
            pause_reason TEXT,
            status_reason TEXT,
            model_calls INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            transcript_seq INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX sessions_by_objective ON sessions(objective_id);
        CREATE INDEX sessions_by_status ON sessions(status);

        CREATE TABLE session_deps (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            depends_on TEXT NOT NULL REFERENCES sessions(id),
            PRIMARY KEY (session_id, depends_on)
        ) WITHOUT ROWID;
        CREATE INDEX session_deps_by_dependency ON session_deps(depends_on);

        CREATE TABLE target_slots (
            session_id TEXT PRIMARY KEY REFERENCES sessions(id),
            target_id TEXT NOT NULL REFERENCES targets(id),
            claimed_at REAL NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX target_slots_by_target ON target_slots(target_id);

        CREATE TABLE locks (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            owner TEXT NOT NULL,
            acquired_at REAL NOT NULL,
            PRIMARY KEY (kind, key)
        ) WITHOUT ROWID;
        CREATE INDEX locks_by_owner ON locks(owner);

        CREATE TABLE pull_requests (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            session_id TEXT REFERENCES sessions(id),
            url TEXT NOT NULL UNIQUE,
            number INTEGER NOT NULL,
            branch TEXT NOT NULL,
            base TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            head_sha TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX pull_requests_by_objective ON pull_requests(objective_id);
        CREATE INDEX pull_requests_by_state ON pull_requests(state);

        CREATE TABLE pr_feedback (
            id TEXT PRIMARY KEY,
            pr_id TEXT NOT NULL REFERENCES pull_requests(id),
            external_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            follow_up_session_id TEXT REFERENCES sessions(id),
            created_at REAL NOT NULL,
            UNIQUE (pr_id, external_id)
        );

        CREATE TABLE questions (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            asked_by TEXT,
            audience TEXT NOT NULL,
            text TEXT NOT NULL,
            status TEXT NOT NULL,
            answer TEXT,
            created_at REAL NOT NULL,
            answered_at REAL
        );
        CREATE INDEX questions_by_status ON questions(status);
        CREATE INDEX questions_by_objective ON questions(objective_id);

        CREATE TABLE artifacts (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            session_id TEXT REFERENCES sessions(id),
            name TEXT NOT NULL,
            uri TEXT NOT NULL,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX artifacts_by_objective ON artifacts(objective_id);

        CREATE TABLE notes (
            id TEXT PRIMARY KEY,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            session_id TEXT REFERENCES sessions(id),
            text TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX notes_by_objective ON notes(objective_id);

        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            objective_id TEXT,
            session_id TEXT,
            target_id TEXT,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_objective ON events(objective_id, id);
        CREATE INDEX events_by_session ON events(session_id, id);

        CREATE TABLE transcript (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            ts REAL NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "provider limits",
        """
        CREATE TABLE provider_limits (
            agent TEXT PRIMARY KEY,
            exhausted_until REAL,
            billing INTEGER NOT NULL DEFAULT 0,
            reason TEXT NOT NULL DEFAULT '',
            updated_at REAL NOT NULL
        );
        """,
    ),
    (
        "manager notices",
        """
        CREATE TABLE manager_notices (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at REAL NOT NULL,
            delivered_to TEXT,
            delivered_at REAL
        );
        CREATE INDEX manager_notices_pending ON manager_notices(objective_id, delivered_at, id);
        """,
    ),
    (
        "fake forge pull requests",
        """
        CREATE TABLE fake_forge_prs (
            url TEXT PRIMARY KEY,
            data TEXT NOT NULL
        );
        """,
    ),
    (
        "exactly-once effects, fake agents' progress, tmux pane offsets",
        """
        CREATE TABLE effects (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            key TEXT NOT NULL,
            tool TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (session_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE fake_agent_conversations (
            provider_session_id TEXT PRIMARY KEY,
            data TEXT NOT NULL
        );

        ALTER TABLE sessions ADD COLUMN pane_offset INTEGER;
        ALTER TABLE sessions ADD COLUMN waiting_question TEXT;
        """,
    ),
    (
        "owned processes",
        """
        CREATE TABLE owned_processes (
            session_id TEXT NOT NULL REFERENCES sessions(id),
            target_id TEXT NOT NULL REFERENCES targets(id),
            pgid INTEGER NOT NULL,
            start_time INTEGER NOT NULL,
            boot_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            tmux_session TEXT,
            created_at REAL NOT NULL,
            PRIMARY KEY (session_id, pgid)
        );
        """,
    ),
    (
        "dashboard indexes",
        """
        CREATE INDEX pull_requests_by_session ON pull_requests(session_id, created_at);
        CREATE INDEX sessions_by_objective_updated ON sessions(objective_id, updated_at);
        CREATE INDEX objectives_by_updated ON objectives(updated_at, id);
        """,
    ),
    (
        "transcript lines keyed by session number and seq",
        """
        ALTER TABLE sessions ADD COLUMN num INTEGER;
        UPDATE sessions SET num = rowid;
        CREATE UNIQUE INDEX sessions_by_num ON sessions(num);

        CREATE TABLE transcript_lines (
            key INTEGER PRIMARY KEY,
            kind INTEGER NOT NULL,
            body TEXT NOT NULL,
            ts REAL NOT NULL
        );
        INSERT INTO transcript_lines (key, kind, body, ts)
            SELECT s.num * 4294967296 + t.seq, CASE t.kind
                WHEN 'user' THEN 0
                WHEN 'text' THEN 1
                WHEN 'tool_call' THEN 2
                WHEN 'tool_result' THEN 3
                WHEN 'error' THEN 4
                WHEN 'usage' THEN 5
                WHEN 'question' THEN 6
                WHEN 'system' THEN 7
                WHEN 'screen' THEN 8
            END, t.body, t.ts
            FROM transcript t JOIN sessions s ON s.id = t.session_id ORDER BY s.num, t.seq;
        DROP TABLE transcript;
        """,
    ),
    (
        "a session's transcript seq is its last line's key, not a column rewritten by every commit",
        """
        ALTER TABLE sessions DROP COLUMN transcript_seq;
        """,
    ),
    (
        "sessions by role and status",
        """
        CREATE INDEX sessions_by_role_status ON sessions(role, status);
        """,
    ),
    (
        "targets' status reason and SSH host key, the labels a session asks its target for",
        """
        ALTER TABLE targets ADD COLUMN status_reason TEXT;
        ALTER TABLE targets ADD COLUMN host_key TEXT;
        ALTER TABLE sessions ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
        """,
    ),
    (
        "what a session was asked and is doing now, when it started and ended, its objective's cost over time",
        """
        CREATE TABLE session_now (
            session_id TEXT PRIMARY KEY REFERENCES sessions(id),
            now TEXT,
            last_output_at REAL NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO session_now (session_id, now, last_output_at)
            SELECT id, NULL, ts FROM (
                SELECT s.id, (SELECT t.ts FROM transcript_lines t WHERE t.key > s.num * 4294967296
                              AND t.key < (s.num + 1) * 4294967296 ORDER BY t.key DESC LIMIT 1) AS ts
                FROM sessions s)
            WHERE ts IS NOT NULL;

        ALTER TABLE sessions ADD COLUMN task TEXT NOT NULL DEFAULT '';
        UPDATE sessions SET task = ltrim(prompt, ' ' || char(9, 10, 11, 12, 13));
        UPDATE sessions SET task = rtrim(substr(task, 1, instr(task || char(10), char(10)) - 1), ' ' || char(9, 13));
        UPDATE sessions SET task = substr(task, 1, 159) || '…' WHERE length(task) > 160;

        ALTER TABLE sessions ADD COLUMN started_at REAL;
        ALTER TABLE sessions ADD COLUMN ended_at REAL;
        UPDATE sessions SET started_at = (
            SELECT MIN(e.ts) FROM events e WHERE e.session_id = sessions.id AND e.kind = 'session_status'
                AND json_extract(e.data, '$.new') = 'running');
        UPDATE sessions SET ended_at = COALESCE((
            SELECT MAX(e.ts) FROM events e WHERE e.session_id = sessions.id AND e.kind = 'session_status'
                AND json_extract(e.data, '$.new') IN ('completed', 'failed', 'canceled')), updated_at)
            WHERE status IN ('completed', 'failed', 'canceled');

        CREATE TABLE objective_cost (
            objective_id TEXT NOT NULL REFERENCES objectives(id),
            at REAL NOT NULL,
            cost_usd REAL NOT NULL
        );
        CREATE INDEX objective_cost_by_objective ON objective_cost(objective_id, at);
        INSERT INTO objective_cost (objective_id, at, cost_usd)
            SELECT objective_id, MAX(updated_at), SUM(cost_usd) FROM sessions
            GROUP BY objective_id HAVING SUM(cost_usd) > 0;
        """,
    ),
    (
        "the workers waiting for capacity in age order, read a page at a time without sorting the queue",
        """
        DROP INDEX sessions_by_role_status;
        CREATE INDEX sessions_by_role_status ON sessions(role, status, created_at);
        """,
    ),
    (
        "an objective's live sessions looked up by status, not read among all of its sessions; the newest"
        " objectives, questions and PRs listed by an index walk, not by sorting all of history",
        """
        DROP INDEX sessions_by_objective;
        CREATE INDEX sessions_by_objective_status ON sessions(objective_id, status);
        CREATE INDEX objectives_by_created ON objectives(created_at);
        CREATE INDEX objectives_by_status_created ON objectives(status, created_at);
        CREATE INDEX questions_by_created ON questions(created_at);
        CREATE INDEX pull_requests_by_created ON pull_requests(created_at);
        """,
    ),
    (
        "each target's claimed slots, counted by triggers as its rows come and go, and each role's live sessions"
        " (counted by the store's one status write, recounted at every open): a scheduler tick reads a few"
        " counters, not every live session's row (2,000 of them at scale)",
        """
        CREATE TABLE target_loads (
            target_id TEXT PRIMARY KEY,
            slots INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO target_loads (target_id, slots) SELECT target_id, COUNT(*) FROM target_slots GROUP BY target_id;
        CREATE TRIGGER target_slot_claimed AFTER INSERT ON target_slots BEGIN
            INSERT INTO target_loads (target_id, slots) VALUES (new.target_id, 1)
                ON CONFLICT (target_id) DO UPDATE SET slots = slots + 1;
        END;
        CREATE TRIGGER target_slot_released AFTER DELETE ON target_slots BEGIN
            UPDATE target_loads SET slots = slots - 1 WHERE target_id = old.target_id;
        END;
        CREATE TRIGGER target_slot_moved AFTER UPDATE OF target_id ON target_slots
            WHEN old.target_id IS NOT new.target_id BEGIN
            UPDATE target_loads SET slots = slots - 1 WHERE target_id = old.target_id;
            INSERT INTO target_loads (target_id, slots) VALUES (new.target_id, 1)
                ON CONFLICT (target_id) DO UPDATE SET slots = slots + 1;
        END;

        CREATE TABLE live_sessions (
            role TEXT PRIMARY KEY,
            n INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO live_sessions (role, n) VALUES ('manager', 0), ('worker', 0);
        """,
    ),
)
"""Forward migrations in order. Append new ones; never edit one that has shipped."""

SCHEMA_VERSION = len(MIGRATIONS)

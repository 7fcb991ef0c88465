"""The tools a session drives orcha with (MCP's tool list): schemas, validation, one code path.

:class:`SessionTools` is scoped to one calling session: it acts only within that session's objective. Every
tool calls the same orchestrator operations the HTTP API uses. Bad arguments, unknown ids, ids of another
objective and refusals come back as error outcomes with a clear message; nothing is half-applied.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from orcha.actors.messages import Spawn
from orcha.actors.tool_specs import SPECS_BY_NAME, TOOL_SPECS, tools_for_role, validate_arguments
from orcha.agents.tools import ToolOutcome
from orcha.effects import EFFECT_TOOLS, EffectKey, effect_key
from orcha.errors import InvalidInputError, NotFoundError, OrchaError
from orcha.model import (
    Objective,
    ObjectiveStatus,
    Question,
    QuestionStatus,
    Session,
    SessionRole,
    TeamMember,
    WorkspaceKind,
)
from orcha.ports import Db

if TYPE_CHECKING:
    from orcha.actors.pull_requests import PullRequestWorkflow
    from orcha.actors.workspaces import WorkspaceManager


class ToolOperations(Protocol):
    """The operations the tools call (implemented by :class:`orcha.actors.operations.Operations`)."""

    async def spawn(self, objective_id: str, spawn: Spawn) -> Session: ...
    async def ask_user(self, session_id: str, text: str, *, effect: EffectKey | None = None) -> Question: ...
    async def finish_objective(
        self, objective_id: str, status: ObjectiveStatus, *, summary: str | None = None, completed_by: str | None = None
    ) -> Objective: ...
    async def cancel_session(self, session_id: str, reason: str = ...) -> Session: ...
    async def withdraw_question(self, question_id: str, reason: str) -> None: ...
    async def steer(self, session_id: str, text: str) -> Session: ...


log = logging.getLogger(__name__)


def session_row(session: Session | TeamMember) -> dict[str, Any]:
    return {
        "id": session.id,
        "role": str(session.role),
        "agent": session.agent,
        "status": str(session.status),
        "mode": str(session.mode),
        "target_id": session.target_id,
        "depends_on": list(session.depends_on),
        "status_reason": session.status_reason,
        "pause_reason": session.pause_reason,
    }


class SessionTools:
    """The tool surface of one session (implements :class:`orcha.agents.tools.ToolSurface`)."""

    def __init__(
        self,
        operations: ToolOperations,
        db: Db,
        pull_requests: PullRequestWorkflow,
        workspaces: WorkspaceManager,
        session_id: str,
        *,
        identity: tuple[SessionRole, str] | None = None,
    ) -> None:
        self._ops = operations
        self._db = db
        self._prs = pull_requests
        self._workspaces = workspaces
        self.session_id = session_id
        self._identity: tuple[SessionRole, str] | None = identity
        """This session's role and objective, which never change (given, or read with the first call)."""
        self._handlers: dict[str, Callable[..., Awaitable[ToolOutcome]]] = {
            spec.name: getattr(self, f"_{spec.name}") for spec in TOOL_SPECS
        }

    async def call(self, name: str, arguments: Mapping[str, Any], *, call_id: str | None = None) -> ToolOutcome:
        """Run tool ``name`` for this session. A call that makes a record (a worker, a question, an artifact,
        a note) carries a key (``call_id``, else its arguments): replayed, it returns the first record."""
        spec = SPECS_BY_NAME.get(name)
        if spec is None:
            return ToolOutcome(text=f"unknown tool {name!r}; tools: {', '.join(SPECS_BY_NAME)}", is_error=True)
        try:
            role, _ = await self._who()
            if spec not in tools_for_role(role):
                return ToolOutcome(text=f"{name} is for the objective's manager, not for a {role}", is_error=True)
            args = validate_arguments(spec, arguments)
            if name in EFFECT_TOOLS:
                return await self._handlers[name](args, effect_key(self.session_id, name, args, call_id))
            return await self._handlers[name](args)
        except OrchaError as exc:
            return ToolOutcome(text=str(exc), data={"error": exc.code}, is_error=True)
        except Exception:  # a tool call is the agent's input: it gets an error, never a broken protocol
            log.exception("tool %s of session %s failed", name, self.session_id)
            return ToolOutcome(
                text=f"{name} failed with an unexpected error; orcha logged it",
                data={"error": "internal_error"},
                is_error=True,
            )

    async def _me(self) -> Session:
        me = await self._db.run(lambda s: s.get_session(self.session_id))
        self._identity = (me.role, me.objective_id)
        return me

    async def _who(self) -> tuple[SessionRole, str]:
        """This session's role and objective id (read once: they never change)."""
        if self._identity is None:
            await self._me()
        assert self._identity is not None
        return self._identity

    async def _mine(self, session_id: str) -> Session:
        _, objective_id = await self._who()
        try:
            other = await self._db.run(lambda s: s.get_session(session_id))
        except NotFoundError:
            raise InvalidInputError(f"no session {session_id!r} in your objective", field="session") from None
        if other.objective_id != objective_id:
            raise InvalidInputError(f"no session {session_id!r} in your objective", field="session")
        return other

    # --- tools ---

    async def _spawn_session(self, args: dict[str, Any], effect: EffectKey) -> ToolOutcome:
        me = await self._me()
        for dep in args.get("depends_on") or ():
            await self._mine(dep)
        session = await self._ops.spawn(
            me.objective_id,
            Spawn(
                prompt=args["prompt"],
                agent=args.get("agent") or me.agent,
                role=SessionRole(args.get("role") or "worker"),
                parent_session_id=me.id,
                target_id=args.get("target"),
                labels=tuple(args.get("labels") or ()),
                depends_on=tuple(args.get("depends_on") or ()),
                repo=args.get("repo"),
                base_branch=args.get("base_branch"),
                workspace_kind=WorkspaceKind(args["workspace_kind"]) if args.get("workspace_kind") else None,
                effect=effect,
            ),
        )
        return ToolOutcome(text=f"spawned session {session.id} ({session.status})", data=session_row(session))

    async def _ask_user(self, args: dict[str, Any], effect: EffectKey) -> ToolOutcome:
        question = await self._ops.ask_user(self.session_id, args["question"], effect=effect)
        return ToolOutcome(
            text=f"asked the user (question {question.id}); the answer will come as a message",
            data={"question_id": question.id},
        )

    async def _publish_pr(self, args: dict[str, Any]) -> ToolOutcome:
        session_id = (await self._mine(args["session"])).id if args.get("session") else self.session_id
        try:
            published = await self._prs.publish(
                session_id, title=args["title"], body=args.get("body") or "", actor=self.session_id
            )
        except OrchaError as exc:  # the agent must see that nothing was published, and why
            return ToolOutcome(
                text=f"publish_pr failed, no pull request was opened: {exc}", data={"error": exc.code}, is_error=True
            )
        pr = published.pr
        done = {
            "opened": "opened",
            "adopted": "adopted the PR already open at the forge:",
            "existing": "pushed to the branch's PR, already open:",
        }[published.how]
        return ToolOutcome(
            text=f"{done} {pr.url} (PR #{pr.number}, id {pr.id})",
            data={"pr_id": pr.id, "url": pr.url, "number": pr.number, "how": published.how},
        )

    async def _update_pr(self, args: dict[str, Any]) -> ToolOutcome:
        try:
            result = await self._prs.update(
                self.session_id, args["pr"], force=bool(args.get("force")), reason=args.get("reason")
            )
        except OrchaError as exc:
            return ToolOutcome(
                text=f"update_pr failed, nothing was pushed: {exc}", data={"error": exc.code}, is_error=True
            )
        return ToolOutcome(text=result)

    async def _comment_pr(self, args: dict[str, Any]) -> ToolOutcome:
        try:
            await self._prs.comment(self.session_id, args["pr"], args["body"])
        except OrchaError as exc:
            return ToolOutcome(text=f"comment_pr failed: {exc}", data={"error": exc.code}, is_error=True)
        return ToolOutcome(text="commented")

    async def _create_note(self, args: dict[str, Any], effect: EffectKey) -> ToolOutcome:
        _, objective_id = await self._who()
        note = await self._db.run(
            lambda s: s.add_note(
                objective_id=objective_id, session_id=self.session_id, text=args["text"], effect=effect
            )
        )
        return ToolOutcome(text=f"noted ({note.id})", data={"note_id": note.id})

    async def _record_artifact(self, args: dict[str, Any], effect: EffectKey) -> ToolOutcome:
        me = await self._me()
        if bool(args.get("path")) == bool(args.get("url")):
            raise InvalidInputError("record_artifact takes either a path or a url", field="path")
        first = await self._db.run(lambda s: s.find_effect(effect, "record_artifact"))
        if first is not None:  # a replay: the artifact it recorded (its copy is not made again)
            recorded = await self._db.run(lambda s: s.list_artifacts(me.objective_id))
            artifact = next(a for a in recorded if a.id == first)
            return ToolOutcome(text=f"recorded {artifact.name}: {artifact.uri}", data={"artifact_id": artifact.id})
        if args.get("path"):
            copy = await self._workspaces.save_artifact(me, args["path"])
            uri, kind = f"file://{copy}", "file"
        else:
            uri, kind = args["url"], "link"
        artifact = await self._db.run(
            lambda s: s.add_artifact(
                objective_id=me.objective_id, session_id=me.id, name=args["name"], uri=uri, kind=kind, effect=effect
            )
        )
        return ToolOutcome(text=f"recorded {artifact.name}: {artifact.uri}", data={"artifact_id": artifact.id})

    async def _mark_objective_done(self, args: dict[str, Any]) -> ToolOutcome:
        _, objective_id = await self._who()
        mine = await self._db.run(lambda s: s.list_questions(status=QuestionStatus.OPEN, objective_id=objective_id))
        for question in mine:  # the manager withdraws what it asked and no longer needs, before it is done
            if question.asked_by == self.session_id:
                await self._ops.withdraw_question(question.id, "withdrawn: the team finished without an answer")
        facts = await self._facts(objective_id)
        objective = await self._ops.finish_objective(
            objective_id,
            ObjectiveStatus.DONE,
            summary=f"{facts} Manager: {args['summary']}",
            completed_by=self.session_id,
        )
        return ToolOutcome(text=f"objective {objective.id} is {objective.status}. {facts}")

    async def _facts(self, objective_id: str) -> str:
        """What the store says the team did, so a summary never claims work that did not happen."""
        team = await self._db.run(lambda s: s.list_team(objective_id))
        prs = await self._db.run(lambda s: s.list_pull_requests(objective_id=objective_id))
        workers = [s for s in team if s.role is SessionRole.WORKER]
        counts = collections.Counter(str(w.status) for w in workers)
        outcome = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
        pr_text = ", ".join(f"#{p.number} ({p.state})" for p in sorted(prs, key=lambda p: p.number)) or "none"
        return f"Workers: {outcome}. PRs: {pr_text}."

    async def _message_session(self, args: dict[str, Any]) -> ToolOutcome:
        target = await self._mine(args["session"])
        if target.id == self.session_id or target.role is not SessionRole.WORKER:
            raise InvalidInputError("message_session sends to a worker of your team", field="session")
        session = await self._ops.steer(target.id, args["text"])
        return ToolOutcome(text=f"sent to {session.id} ({session.status})", data=session_row(session))

    async def _cancel_session(self, args: dict[str, Any]) -> ToolOutcome:
        target = await self._mine(args["session"])
        if target.id == self.session_id:
            raise InvalidInputError(
                "a manager may not cancel itself: call mark_objective_done, or ask_user if you are stuck",
                field="session",
            )
        reason = args.get("reason") or f"canceled by {self.session_id}"
        session = await self._ops.cancel_session(target.id, reason)
        return ToolOutcome(text=f"session {session.id} is {session.status}", data=session_row(session))

    async def _list_sessions(self, args: dict[str, Any]) -> ToolOutcome:
        _, objective_id = await self._who()
        sessions = await self._db.run(lambda s: s.list_team(objective_id))
        rows = [session_row(s) for s in sessions]
        text = "\n".join(f"{r['id']} {r['role']} {r['agent']} {r['status']}" for r in rows)
        return ToolOutcome(text=text or "no sessions", data={"sessions": rows})

    async def _session_status(self, args: dict[str, Any]) -> ToolOutcome:
        session = await self._mine(args["session"])
        row = {**session_row(session), "usage": attrs.asdict(session.usage), "prompt": session.prompt[:500]}
        return ToolOutcome(text=f"{session.id} is {session.status}", data=row)

    async def _read_transcript(self, args: dict[str, Any]) -> ToolOutcome:
        session = await self._mine(args["session"])
        after, limit = args.get("after") or 0, args.get("limit") or 100
        page = await self._db.run(lambda s: s.read_transcript(session.id, after=after, limit=limit))
        items = [{"seq": e.seq, "kind": str(e.kind), "body": e.body} for e in page.items]
        text = "\n".join(f"[{i['seq']}] {i['kind']}: {i['body']}" for i in items)
        return ToolOutcome(text=text or "no lines", data={"items": items, "next_after": page.next_after})

    async def _list_questions(self, args: dict[str, Any]) -> ToolOutcome:
        _, objective_id = await self._who()
        questions = await self._db.run(
            lambda s: s.list_questions(status=QuestionStatus.OPEN, objective_id=objective_id)
        )
        rows = [{"id": q.id, "audience": str(q.audience), "asked_by": q.asked_by, "text": q.text} for q in questions]
        return ToolOutcome(
            text="\n".join(f"{r['id']}: {r['text']}" for r in rows) or "no open questions", data={"questions": rows}
        )

    async def _list_prs(self, args: dict[str, Any]) -> ToolOutcome:
        _, objective_id = await self._who()
        prs = await self._db.run(lambda s: s.list_pull_requests(objective_id=objective_id))
        rows = [
            {
                "id": p.id,
                "url": p.url,
                "number": p.number,
                "branch": p.branch,
                "state": str(p.state),
                "session_id": p.session_id,
            }
            for p in prs
        ]
        return ToolOutcome(
            text="\n".join(f"{r['id']} #{r['number']} {r['state']} {r['url']}" for r in rows) or "no pull requests",
            data={"prs": rows},
        )

"""Graph runs: starting them, turning interrupts into requests, and resuming exactly once."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.constants import END
from langgraph.pregel import Pregel
from langgraph.types import Command
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.agents.decisions import DECISIONS_KEY, decision_record, declares_decisions
from bot.agents.payloads import ApprovalSpec, breakpoint_spec, resume_value, spec_from_interrupt
from bot.agents.registry import GraphRegistry
from bot.core import bounds
from bot.core.cards import CardDelivery
from bot.core.items import DecisionType, Item, ItemDecision
from bot.core.lifecycle import Event
from bot.core.vocabulary import DEFAULT_URGENCY, ResumeState, RunStatus, Status
from bot.errors import InvalidInput, NotFound, RunFailed, SignoffError, Unavailable
from bot.observe import lifecycle as observed
from bot.service import ApprovalService, NewRequest
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.tables import ApprovalRequest, Run

log = logging.getLogger(__name__)

BREAKPOINT = "breakpoint:"  # interrupt ids of static breakpoints: "breakpoint:<checkpoint id>"


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """What an agent developer asks to run."""

    graph: str
    input: dict[str, Any] | None
    thread_id: str | None = None
    requester: str | None = None
    approvers: Sequence[str] = ()
    channel: str | None = None


class RunService:
    """Creates runs (the work happens in a worker) and reports on them."""

    def __init__(self, db: Database, *, registry: GraphRegistry, start: Callable[[str], None],
                 clock: Callable[[], datetime],
                 check_start: Callable[[Sequence[str], str | None, str | None], object]) -> None:
        self.db, self.registry, self.start_job, self.clock = db, registry, start, clock
        self.check_start = check_start

    def start(self, new: NewRun, *, agent: str) -> Run:
        """Store a run and queue it; the graph runs in a worker, never on the caller's path."""
        self.registry.get(new.graph)  # unknown graph: InvalidInput naming the registered ones
        # Unknown approvers, approvers no rule lets a run name, an unknown person as requester, a
        # channel the bot cannot post in: a 422 now, not a failed run later.
        self.check_start(new.approvers, new.requester, new.channel)
        now = self.clock()
        run_id = "run_" + secrets.token_hex(10)
        run = Run(id=run_id, graph=new.graph, thread_id=new.thread_id or run_id, status=RunStatus.QUEUED,
                  input=new.input, requester=new.requester, approvers=list(new.approvers),
                  channel=new.channel, created_by=agent, created_at=now, updated_at=now)
        used = InvalidInput(f"thread {run.thread_id!r} already has a run; pick a new thread_id",
                            fields={"thread_id": "already used"})
        try:
            with self.db.write() as s:
                if s.exec(select(Run).where(Run.thread_id == run.thread_id)).first() is not None:
                    raise used
                s.add(run)
                data = {"graph": new.graph, "thread_id": run.thread_id}
                repo.append_event(s, Event(kind="run_started", actor=f"agent:{agent}", request_id=None,
                                           data={"run_id": run_id, **data}), at=now)
        except IntegrityError as e:  # a concurrent start on the same thread won
            raise used from e
        self.start_job(run_id)
        return run

    def get(self, run_id: str) -> tuple[Run, list[ApprovalRequest], dict[str, CardDelivery]]:
        """The run, its requests (oldest first) and where their cards stand."""
        with self.db.read() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise NotFound(f"no run with id {run_id!r}")
            rows = list(s.exec(select(ApprovalRequest).where(ApprovalRequest.run_id == run_id)
                               .order_by(col(ApprovalRequest.created_at))))
            return run, rows, repo.card_deliveries(s, rows)


class GraphExecutor:
    """Runs and resumes graphs inside worker jobs; every step is safe to repeat."""

    def __init__(self, db: Database, *, registry: GraphRegistry, approvals: ApprovalService,
                 thread_lock: Callable[[str], AbstractContextManager[Any]],
                 default_approvers: Sequence[str] = ()) -> None:
        self.db, self.registry, self.approvals = db, registry, approvals
        self.thread_lock, self.default_approvers = thread_lock, tuple(default_approvers)

    def start(self, run_id: str) -> None:
        """Run the graph from its input until it ends or interrupts (once, even if retried)."""
        run = self._run(run_id)
        graph, config = self.registry.get(run.graph), _config(run)
        with self.thread_lock(run.thread_id):
            state = graph.get_state(config)
            if not state.created_at:  # no checkpoint yet: this is the first attempt
                self._set_run(run_id, status=RunStatus.RUNNING)
                graph.invoke(run.input, config)
            self._settle(run, graph)

    def resume(self, request_id: str) -> bool:
        """Answer the interrupt `request_id` stands for, if the thread still waits for it; True
        when an earlier attempt's failure was audited (its card says so until updated again)."""
        row = self.approvals.get(request_id)
        if row.run_id is None or row.status == Status.PENDING or row.resume_state == ResumeState.DONE:
            return False
        run = self._run(row.run_id)
        graph, config = self.registry.get(run.graph), _config(run)
        with self.thread_lock(run.thread_id):
            state = graph.get_state(config)
            if not state.created_at:
                raise RuntimeError(f"thread {run.thread_id} has no checkpoint: refusing to start it "
                                   "afresh from a resume (was the checkpoint store reset?)")
            before = _checkpoint_id(state)
            command = self._command_for(row, state, graph)
            # None when the state has no decisions key, or a failed attempt already wrote it there.
            record = (_record(row) if declares_decisions(graph.channels) and not _recorded(state, row.id)
                      else None)
            if command is STOP:
                # A rejected breakpoint ends the thread: the next nodes are cleared, never run.
                _end_thread(graph, config, record)
            elif command is CONTINUE:
                if record is not None:
                    graph.update_state(config, {DECISIONS_KEY: [record]})
                graph.invoke(None, config)
            elif command is not None:
                if record is not None:  # the decision lands in the state with the answer
                    command = Command(update={DECISIONS_KEY: [record]}, resume=command.resume)
                graph.invoke(command, config)
            after = _checkpoint_id(graph.get_state(config))
            try:
                self._settle(run, graph)
            except RunFailed as e:
                # The graph took the decision; what it asked next cannot be asked (the run has
                # failed, saying why): the resume is done, and says what followed it.
                self._resumed(row, before=before, after=after, applied=command is not None, run_failed=str(e))
                raise
            # Only now: a failure above leaves resume_state "queued", so a retry carries on.
            return self._resumed(row, before=before, after=after, applied=command is not None)

    def _command_for(self, row: ApprovalRequest, state: Any, graph: Pregel) -> Any:
        """What to resume with, or None when this decision was already applied."""
        assert row.interrupt_id is not None
        if row.interrupt_id.startswith(BREAKPOINT):
            waiting_here = state.next and _at_breakpoint(state, row.id, row.interrupt_id[len(BREAKPOINT):])
            if not waiting_here:
                return None
            if row.status != Status.APPROVED:
                self._set_run(row.run_id, status=RunStatus.STOPPED, error=f"stopped at a breakpoint by "
                              f"{row.decided_by}: {row.reason or 'no reason given'}")
                return STOP
            return CONTINUE
        # Only an interrupt still pending may be answered: a stale answer must not answer the
        # next question (LangGraph accepts a task's first interrupt id for its later ones).
        if row.interrupt_id not in {i.id for i in state.interrupts}:
            return None
        items = [Item.from_json(i) for i in row.items]
        decisions = [ItemDecision.from_json(d) if d else _undecided(row) for d in row.item_decisions]
        try:
            value = resume_value(row.kind, items, decisions)
        except InvalidInput as e:
            # A cancelled or expired request whose payload cannot say "no" (a form, a tool
            # that allows no reject): stop the run rather than hand the graph a wrong answer.
            self._set_run(row.run_id, status=RunStatus.STOPPED, error=f"request {row.id} {row.status}: {e}")
            return None
        return Command(resume={row.interrupt_id: value})

    def attempt_failed(self, run_id: str | None, error: BaseException, *, final: bool) -> None:
        """A job for run `run_id` failed (its graph's step, the database, Slack): while the job is
        retried the run stays running, saying why; `failed` only once the retries are spent, since
        an agent takes it as final."""
        described = f"{error.__class__.__name__}: {error}"
        if final:
            self._set_run(run_id, status=RunStatus.FAILED, error=described)
        else:
            self._set_run(run_id, status=RunStatus.RUNNING, error=f"{described} (retrying with backoff)")

    def _settle(self, run: Run, graph: Pregel) -> None:
        """After a step: raise requests for what the thread waits on, or record that it ended."""
        config = _config(run)
        state = graph.get_state(config)
        if state.interrupts:
            # One already asked is not read again (the node ran again, or Signoff was upgraded
            # since); every other is read, routed and checked (approvers, channel) before any is
            # stored, so that one that cannot be asked among parallel interrupts fails the run
            # with none of them asked.
            with self.db.read() as s:
                asked = {intr.id for intr in state.interrupts
                         if repo.find_by_interrupt(s, run_id=run.id, interrupt_id=intr.id) is not None}
            prepared = []
            for intr in state.interrupts:
                if intr.id not in asked:
                    with self._asking(run, interrupt_id=intr.id):
                        schema = getattr(intr, "response_schema", None)
                        spec = spec_from_interrupt(intr.value, response_schema=schema, graph=run.graph)
                        new = self._checked(run, spec, interrupt_id=intr.id)
                        prepared.append((intr.id, self.approvals.prepare(new, agent=run.created_by)))
            for interrupt_id, ready in prepared:
                with self._asking(run, interrupt_id=interrupt_id):
                    self.approvals.store(ready)
            self._set_run(run.id, status=RunStatus.WAITING, error=None)  # a failed attempt's is past
        elif state.next and not _breakpoint(graph, state.next):
            # A step cut short (a failed or killed attempt after the answer was saved): go on.
            graph.invoke(None, config)
            self._settle(run, graph)
        elif state.next:
            view = self.registry.view(run.graph)
            spec = breakpoint_spec(graph=run.graph, next_nodes=list(state.next),
                                   values=_jsonable(state.values), show=view.show, hide=view.hide)
            interrupt_id = BREAKPOINT + _checkpoint_id(state)
            with self._asking(run, interrupt_id=interrupt_id):
                self.approvals.create(self._checked(run, spec, interrupt_id=interrupt_id),
                                      agent=run.created_by)
            self._set_run(run.id, status=RunStatus.WAITING, error=None)
        else:
            self._set_run(run.id, status=RunStatus.DONE, result=_jsonable(state.values), error=None)

    @contextmanager
    def _asking(self, run: Run, *, interrupt_id: str) -> Iterator[None]:
        try:
            yield
        except Unavailable:
            raise  # the database or Slack is down: RQ retries the step; the run has not failed
        except SignoffError as e:
            # Nobody could be asked (a malformed payload, an unknown approver, a rule that forbids
            # the run's own approvers, a bad channel, …): fail the run visibly rather than leave it
            # "running" with no request.
            error = f"cannot ask for interrupt {interrupt_id}: {e}"
            self._set_run(run.id, status=RunStatus.FAILED, error=error)
            raise RunFailed(error) from e

    def _checked(self, run: Run, spec: ApprovalSpec, *, interrupt_id: str) -> NewRequest:
        """The request that asks `spec`, once its values are within bounds."""
        context = {**(spec.context or {}), "graph": run.graph, "run": run.id}
        # A tool call's arguments come from a model, not a checked API body: bound them the same
        # way (a request nested too deep was stored and then could not be shown, a 500 from then on).
        for where, value in [("context", context), ("summary", spec.summary),
                             *((f"items[{n}].args", dict(i.args)) for n, i in enumerate(spec.items))]:
            if problem := bounds.value_problem(value):
                raise InvalidInput(f"interrupt {interrupt_id}: {where} {problem}", fields={where: problem})
        return NewRequest(
            # Each item is routed by its own action and arguments; the request's own action and
            # arguments are the first item's, for its title.
            action=spec.items[0].action, summary=spec.summary, args=dict(spec.items[0].args),
            approvers=list(spec.approvers or run.approvers), fallback_approvers=self.default_approvers,
            context=context, urgency=spec.urgency or DEFAULT_URGENCY, channel=spec.channel or run.channel,
            requester=run.requester, items=spec.items, kind=spec.kind, run_id=run.id,
            interrupt_id=interrupt_id, on_timeout=spec.on_timeout,
            timeout=timedelta(seconds=spec.timeout_seconds) if spec.timeout_seconds else None,
        )

    def _resumed(self, row: ApprovalRequest, *, before: str | None, after: str | None, applied: bool,
                 run_failed: str | None = None) -> bool:
        """Record the resume; True when an earlier attempt's failure was audited."""
        data = {"run_id": row.run_id, "interrupt_id": row.interrupt_id, "checkpoint_before": before,
                "checkpoint_after": after, "applied": applied}
        if run_failed is not None:
            data["run_failed"] = run_failed
        self._record(row.id, kind="resumed", resume_state=ResumeState.DONE, data=data)
        observed.resumed(request_id=row.id, agent=row.created_by, rule=row.rule, decided_at=row.decided_at,
                         now=self.approvals.clock(), applied=applied)
        with self.db.read() as s:
            return repo.has_event(s, row.id, kind="resume_failed")

    def resume_failed(self, request_id: str, error: BaseException, *, final: bool) -> None:
        """Audit a failed resume attempt (RQ retries it unless `final`), and say so on its run."""
        described = f"{error.__class__.__name__}: {error}"
        data = {"error": described, "final": final}
        observed.resume_failed(request_id=request_id, error=described, final=final)
        self._record(request_id, kind="resume_failed", resume_state=ResumeState.FAILED if final else None,
                     data=data)
        with self.db.read() as s:
            run_id = s.exec(select(ApprovalRequest.run_id).where(ApprovalRequest.id == request_id)).first()
        self.attempt_failed(run_id, error, final=final)

    def _record(
        self, request_id: str, *, kind: str, resume_state: ResumeState | None, data: dict[str, Any]
    ) -> None:
        """The resume's outcome and its audit event, in one transaction."""
        with self.db.write() as s:
            if resume_state is not None:
                repo.set_resume_state(s, request_id, resume_state)
            repo.append_event(s, Event(kind=kind, actor="system", request_id=request_id, data=data),
                              at=self.approvals.clock())

    def _run(self, run_id: str) -> Run:
        with self.db.read() as s:
            run = s.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        return run

    def _set_run(self, run_id: str | None, **changes: Any) -> None:
        with self.db.write() as s:
            run = s.get(Run, run_id)
            if run is None:
                return
            if run.status == RunStatus.STOPPED and changes.get("status") != RunStatus.STOPPED:
                changes.pop("status", None)  # a stopped run stays stopped, saying why
                changes.pop("error", None)
            for key, value in changes.items():
                setattr(run, key, value)
            run.updated_at = self.approvals.clock()
            s.add(run)


CONTINUE = object()  # resume past a static breakpoint: `invoke(None)`
STOP = object()  # end the thread at a static breakpoint: clear its next nodes


def _end_thread(graph: Pregel, config: RunnableConfig, record: dict[str, Any] | None) -> None:
    """Record the decision (as the node that ran last) and clear what was next, so the thread ends."""
    if record is not None:
        graph.update_state(config, {DECISIONS_KEY: [record]})
    graph.update_state(config, None, as_node=END)


def _recorded(state: Any, request_id: str) -> bool:
    """Whether the state's last recorded decision is this request's."""
    decisions = state.values.get(DECISIONS_KEY) if isinstance(state.values, dict) else None
    last = decisions[-1] if isinstance(decisions, list) and decisions else None
    return isinstance(last, dict) and last.get("request_id") == request_id


def _at_breakpoint(state: Any, request_id: str, checkpoint_id: str) -> bool:
    """Whether the thread still waits at this breakpoint: at its checkpoint, or one step past it where
    only our decision record was written (an attempt that failed after writing it)."""
    if _checkpoint_id(state) == checkpoint_id:
        return True
    parent = str((state.parent_config or {}).get("configurable", {}).get("checkpoint_id") or "")
    return parent == checkpoint_id and _recorded(state, request_id)


def _record(row: ApprovalRequest) -> dict[str, Any]:
    return decision_record(
        request_id=row.id, interrupt_id=row.interrupt_id, status=row.status, decision=row.decision,
        by=row.decided_by, reason=row.reason,
        at=row.decided_at.isoformat() if row.decided_at else None, items=list(row.item_decisions))

def _breakpoint(graph: Pregel, next_nodes: Sequence[str]) -> bool:
    """Whether a thread stopped with work left stopped at a static breakpoint of the graph."""
    before, after = graph.interrupt_before_nodes, graph.interrupt_after_nodes
    if before == "*" or after == "*" or after:
        return True  # interrupt_after stops past a node; the snapshot does not say which one ran
    return bool(set(next_nodes) & set(before or ()))


def _config(run: Run) -> RunnableConfig:
    return {"configurable": {"thread_id": run.thread_id}}


def _checkpoint_id(state: Any) -> str:
    return str((state.config or {}).get("configurable", {}).get("checkpoint_id") or "")


def _undecided(row: ApprovalRequest) -> ItemDecision:
    """A cancelled or expired request answers its open items as rejected, saying why."""
    assert row.decided_at is not None
    why = f"{row.status} by {row.decided_by}" + (f": {row.reason}" if row.reason else "")
    return ItemDecision(type=DecisionType.REJECT, by=row.decided_by or "system", at=row.decided_at,
                        message=why)


def _jsonable(values: Any) -> dict[str, Any] | None:
    """A JSON-safe summary of graph state for the API (messages as their fields, other objects
    as text)."""
    if values is None:
        return None
    text = json.dumps(values if isinstance(values, dict) else {"value": values}, default=_json_of)
    return dict(json.loads(text[:100_000])) if len(text) <= 100_000 else {"truncated": text[:2000]}


def _json_of(value: Any) -> Any:
    """A pydantic model (a LangChain message) as its fields; anything else as text."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:  # noqa: BLE001 - a model that cannot dump itself is shown as text
            pass
    return str(value)

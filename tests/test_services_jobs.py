"""The in-process job runner: one analysis at a time, its lifecycle recorded, failures in words, stale jobs closed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from salesfolio.services.analysis import AnalysisError, AnalysisRun
from salesfolio.services.jobs import (
    MSG_BUSY_WAREHOUSE,
    MSG_INTERRUPTED,
    AnalysisBusy,
    JobRunner,
    last_duration,
    seconds_between,
)
from salesfolio.store.models import AnalysisJob, AuditEntry, Snapshot
from salesfolio.warehouse import WarehouseError
from salesfolio.workspace import Workspace

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


def status_of(ws: Workspace, job_id: int) -> AnalysisJob:
    with ws.sessions() as db:
        job = db.get(AnalysisJob, job_id)
        assert job is not None
        return job


def wait_for(ws: Workspace, job_id: int, statuses: tuple[str, ...], timeout: float = 20.0) -> AnalysisJob:
    """Poll the job row until its status is one of ``statuses`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        job = status_of(ws, job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.02)


class GatedAnalysis:
    """A stand-in analysis that waits for the test to open its gate, then stores a real snapshot row."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.calls: list[tuple[dt.date, str | None, str | None]] = []

    def __call__(self, ws: Workspace, *, as_of: dt.date, username: str | None, label: str | None) -> AnalysisRun:
        self.calls.append((as_of, username, label))
        self.started.set()
        assert self.gate.wait(10)
        with ws.sessions.begin() as db:
            snapshot = Snapshot(label=label or "", as_of=as_of, created_by=username)
            db.add(snapshot)
            db.flush()
            snapshot_id = snapshot.id
        return AnalysisRun(result=None, snapshot_id=snapshot_id)  # type: ignore[arg-type]


def test_lifecycle_queued_running_done(ws: Workspace) -> None:
    analysis = GatedAnalysis()
    runner = JobRunner(ws, analyse=analysis)
    try:
        # a job submitted while the worker is busy stays queued: block the worker first
        blocker = threading.Event()
        runner._executor.submit(blocker.wait, 10)
        job = runner.submit_analysis(as_of=AS_OF, label="Q2", username="ada")
        assert job.status == "queued"
        assert status_of(ws, job.id).status == "queued"
        assert runner.active_job_id == job.id
        blocker.set()
        assert analysis.started.wait(10)
        running = wait_for(ws, job.id, ("running",))
        assert running.started_at is not None and running.finished_at is None
        analysis.gate.set()
        done = wait_for(ws, job.id, ("done",))
        assert runner.join(10)
        assert done.finished_at is not None and done.message == ""
        with ws.sessions() as db:
            snapshot = db.get(Snapshot, done.snapshot_id)
            assert snapshot is not None and snapshot.label == "Q2" and snapshot.created_by == "ada"
            actions = db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert analysis.calls == [(AS_OF, "ada", "Q2")]
        assert actions == ["analysis.request"]
        assert runner.active_job_id is None
        assert last_duration_of(ws) is not None
    finally:
        analysis.gate.set()
        runner.shutdown()


def last_duration_of(ws: Workspace) -> float | None:
    with ws.sessions() as db:
        return last_duration(db)


def test_a_second_request_while_one_runs_is_refused(ws: Workspace) -> None:
    analysis = GatedAnalysis()
    runner = JobRunner(ws, analyse=analysis)
    try:
        first = runner.submit_analysis(as_of=AS_OF, username="ada")
        assert analysis.started.wait(10)
        with pytest.raises(AnalysisBusy) as refused:
            runner.submit_analysis(as_of=AS_OF, username="bob")
        assert refused.value.job_id == first.id
        assert str(refused.value) == f"analysis job {first.id} is still running"
        with ws.sessions() as db:
            assert len(db.scalars(select(AnalysisJob)).all()) == 1
        analysis.gate.set()
        wait_for(ws, first.id, ("done",))
        assert runner.join(10)
        second = runner.submit_analysis(as_of=AS_OF, username="bob")  # free again
        wait_for(ws, second.id, ("done",))
    finally:
        analysis.gate.set()
        runner.shutdown()


def test_real_analysis_of_an_empty_warehouse_fails_with_the_reason(ws: Workspace) -> None:
    runner = JobRunner(ws)
    try:
        job = runner.submit_analysis(as_of=AS_OF, username="ada")
        failed = wait_for(ws, job.id, ("failed",))
        assert failed.message == ("the warehouse has no clients and no invoice lines yet: run salesfolio import first")
        assert failed.snapshot_id is None and failed.finished_at is not None
        with ws.sessions() as db:
            audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "analysis.failed")).one()
        assert audit.object_id == str(job.id) and audit.detail["message"] == failed.message
    finally:
        runner.shutdown()


def test_unexpected_errors_and_a_busy_warehouse_are_recorded(ws: Workspace) -> None:
    def broken(ws: Workspace, **_: object) -> AnalysisRun:
        raise KeyError("revenue_ttm")

    def locked(ws: Workspace, **_: object) -> AnalysisRun:
        raise WarehouseError("cannot open the warehouse: Could not set lock on file")

    runner = JobRunner(ws, analyse=broken)
    try:
        job = runner.submit_analysis(as_of=AS_OF)
        assert wait_for(ws, job.id, ("failed",)).message == (
            "The analysis stopped on an unexpected error: 'revenue_ttm'"
        )
    finally:
        runner.shutdown()
    runner = JobRunner(ws, analyse=locked, retry_seconds=0.3)
    try:
        started = time.monotonic()
        job = runner.submit_analysis(as_of=AS_OF)
        assert wait_for(ws, job.id, ("failed",)).message == MSG_BUSY_WAREHOUSE
        assert time.monotonic() - started >= 0.3  # it retried before giving up
    finally:
        runner.shutdown()


def test_a_warehouse_busy_for_a_moment_is_retried(ws: Workspace) -> None:
    attempts: list[int] = []
    analysis = GatedAnalysis()
    analysis.gate.set()

    def flaky(ws: Workspace, *, as_of: dt.date, username: str | None, label: str | None) -> AnalysisRun:
        attempts.append(1)
        if len(attempts) < 3:
            raise WarehouseError("cannot open the warehouse: different configuration")
        return analysis(ws, as_of=as_of, username=username, label=label)

    runner = JobRunner(ws, analyse=flaky, retry_seconds=10)
    try:
        job = runner.submit_analysis(as_of=AS_OF)
        assert wait_for(ws, job.id, ("done",)).snapshot_id is not None
        assert len(attempts) == 3
    finally:
        runner.shutdown()


def test_analysis_errors_keep_their_message(ws: Workspace) -> None:
    def empty(ws: Workspace, **_: object) -> AnalysisRun:
        raise AnalysisError("no clients: import clients or invoice lines before analysing")

    runner = JobRunner(ws, analyse=empty)
    try:
        job = runner.submit_analysis(as_of=AS_OF)
        assert (
            wait_for(ws, job.id, ("failed",)).message == "no clients: import clients or invoice lines before analysing"
        )
    finally:
        runner.shutdown()


def test_jobs_left_by_a_stopped_process_are_marked_failed(ws: Workspace) -> None:
    with ws.sessions.begin() as db:
        db.add_all(
            [
                AnalysisJob(as_of=AS_OF, status="running", created_by="ada"),
                AnalysisJob(as_of=AS_OF, status="queued", created_by="bob"),
                AnalysisJob(as_of=AS_OF, status="done", created_by="cyd"),
            ]
        )
    runner = JobRunner(ws, analyse=GatedAnalysis())
    try:
        assert runner.interrupted == 2
        with ws.sessions() as db:
            rows = {j.created_by: (j.status, j.message) for j in db.scalars(select(AnalysisJob))}
        assert rows == {
            "ada": ("failed", MSG_INTERRUPTED),
            "bob": ("failed", MSG_INTERRUPTED),
            "cyd": ("done", ""),
        }
    finally:
        runner.shutdown()


def test_shutdown_refuses_new_jobs_and_waits_for_the_running_one(ws: Workspace) -> None:
    analysis = GatedAnalysis()
    runner = JobRunner(ws, analyse=analysis)
    job = runner.submit_analysis(as_of=AS_OF)
    assert analysis.started.wait(10)
    threading.Timer(0.2, analysis.gate.set).start()
    runner.shutdown(wait=True)
    assert status_of(ws, job.id).status == "done"
    with pytest.raises(RuntimeError, match=r"^the job runner has been shut down$"):
        runner.submit_analysis(as_of=AS_OF)


def test_seconds_between_reads_naive_timestamps_as_utc() -> None:
    start = dt.datetime(2025, 1, 1, 12, 0, 0)
    end = dt.datetime(2025, 1, 1, 12, 0, 30, tzinfo=dt.UTC)
    assert seconds_between(start, end) == 30.0

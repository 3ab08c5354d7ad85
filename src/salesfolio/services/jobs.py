"""Background jobs of the web app: an analysis runs in a worker thread while the page polls its status.

:class:`JobRunner` is a small in-process job runner: a :class:`~concurrent.futures.ThreadPoolExecutor` with one
worker (``max_workers=1``), so analyses run one after another, never two at once. Each request is recorded as an
:class:`~salesfolio.store.models.AnalysisJob` row that moves ``queued -> running -> done`` (with the new snapshot's
id) or ``-> failed`` (with the reason in words); the web page reads that row. A request while a job is queued or
running is refused with :class:`AnalysisBusy`.

The web app keeps one runner per app on ``app.state.jobs`` and shuts it down when the app stops (waiting for a
running analysis to be stored). Rows left ``queued`` or ``running`` by a process that stopped are marked failed
(:data:`MSG_INTERRUPTED`) when the next runner starts. One runner per workspace and process is assumed (one web
server process, as ``salesfolio serve`` runs it).

Opening the DuckDB warehouse for writing fails while a page of the same process reads it (DuckDB refuses a second
connection with another configuration); the runner then retries for up to ``retry_seconds`` (default 30 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import select, update

from salesfolio.services import audit
from salesfolio.services.analysis import AnalysisError, AnalysisRun, run_analysis
from salesfolio.store.models import AnalysisJob, Snapshot, utcnow
from salesfolio.warehouse import WarehouseError
from salesfolio.workspace import Workspace

logger = logging.getLogger(__name__)

MSG_INTERRUPTED = "The app stopped before the analysis finished; run it again."
MSG_UNEXPECTED = "The analysis stopped on an unexpected error: %(error)s"
MSG_BUSY_WAREHOUSE = "The warehouse stayed busy (an import or another program is using it); try again later."
ACTIVE = ("queued", "running")


class Analyse(Protocol):
    """The analysis a job runs: :func:`salesfolio.services.analysis.run_analysis` (tests pass a stand-in)."""

    def __call__(self, ws: Workspace, *, as_of: dt.date, username: str | None, label: str | None) -> AnalysisRun:
        """Analyse ``ws`` as of ``as_of`` and store a snapshot."""
        ...


class AnalysisBusy(RuntimeError):
    """An analysis is queued or running already; ``job_id`` names it."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"analysis job {job_id} is still running")
        self.job_id = job_id


class JobRunner:
    """Runs analyses one at a time in a background thread and records them as ``AnalysisJob`` rows.

    Parameters
    ----------
    workspace
        The workspace whose warehouse is analysed and whose app store records the jobs.
    analyse
        The analysis to run (default :func:`~salesfolio.services.analysis.run_analysis`).
    retry_seconds
        How long a job retries while the warehouse cannot be opened (default 30 s).
    """

    def __init__(self, workspace: Workspace, *, analyse: Analyse = run_analysis, retry_seconds: float = 30.0) -> None:
        self.workspace = workspace
        self.retry_seconds = retry_seconds
        self._analyse = analyse
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salesfolio-analysis")
        self._lock = threading.Lock()
        self._active: int | None = None
        self._future: Future[None] | None = None
        self._closed = False
        self.interrupted = self._interrupt_stale()

    # -- state -----------------------------------------------------------------------------------------------------
    @property
    def active_job_id(self) -> int | None:
        """The id of the job queued or running in this runner, None when idle."""
        with self._lock:
            return self._active

    def _interrupt_stale(self) -> int:
        """Mark jobs left queued or running by a stopped process as failed; the number marked."""
        with self.workspace.sessions.begin() as db:
            result = db.execute(
                update(AnalysisJob)
                .where(AnalysisJob.status.in_(ACTIVE))
                .values(status="failed", message=MSG_INTERRUPTED, finished_at=utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # -- submitting ------------------------------------------------------------------------------------------------
    def submit_analysis(self, *, as_of: dt.date, label: str = "", username: str | None = None) -> AnalysisJob:
        """Queue an analysis as of ``as_of``; the job row is returned at once (status ``queued``).

        Raises
        ------
        AnalysisBusy
            When another analysis is queued or running.
        RuntimeError
            When the runner has been shut down.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner has been shut down")
            if self._active is not None:
                raise AnalysisBusy(self._active)
            with self.workspace.sessions.begin() as db:
                job = AnalysisJob(as_of=as_of, label=label, created_by=username, status="queued")
                db.add(job)
                db.flush()
                audit.record(
                    db,
                    "analysis.request",
                    username=username,
                    object_type="analysis_job",
                    object_id=str(job.id),
                    as_of=as_of.isoformat(),
                    label=label,
                )
            self._active = job.id
            self._future = self._executor.submit(self._run, job.id)
        return job

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the current job; True when no job is active afterwards."""
        with self._lock:
            future = self._future
        if future is not None:
            try:
                future.result(timeout=timeout)
            except TimeoutError:
                return False
        return self.active_job_id is None

    def shutdown(self, *, wait: bool = True) -> None:
        """Refuse new jobs and stop the worker; ``wait`` lets a running analysis finish and be stored first."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=not wait)

    # -- the worker ------------------------------------------------------------------------------------------------
    def _set(self, job_id: int, **values: Any) -> None:
        with self.workspace.sessions.begin() as db:
            db.execute(update(AnalysisJob).where(AnalysisJob.id == job_id).values(**values))

    def _run(self, job_id: int) -> None:
        username: str | None = None
        try:
            with self.workspace.sessions() as db:
                job = db.get(AnalysisJob, job_id)
                if job is None:  # pragma: no cover - the row is written before the job is submitted
                    return
                as_of, label, username = job.as_of, job.label, job.created_by
            self._set(job_id, status="running", started_at=utcnow())
            run = self._with_retry(lambda: self._analyse(self.workspace, as_of=as_of, username=username, label=label))
            self._set(job_id, status="done", finished_at=utcnow(), snapshot_id=run.snapshot_id, message="")
        except AnalysisError as exc:
            self._fail(job_id, username, str(exc))
        except WarehouseError:
            self._fail(job_id, username, MSG_BUSY_WAREHOUSE)
        except Exception as exc:
            logger.exception("analysis job %s failed", job_id)
            self._fail(job_id, username, MSG_UNEXPECTED % {"error": exc})
        finally:
            with self._lock:
                self._active = None

    def _fail(self, job_id: int, username: str | None, message: str) -> None:
        try:
            with self.workspace.sessions.begin() as db:
                db.execute(
                    update(AnalysisJob)
                    .where(AnalysisJob.id == job_id)
                    .values(status="failed", finished_at=utcnow(), message=message)
                )
                audit.record(
                    db,
                    "analysis.failed",
                    username=username,
                    object_type="analysis_job",
                    object_id=str(job_id),
                    message=message,
                )
        except Exception:  # the store itself failed: nothing more can be recorded
            logger.exception("could not record the failure of analysis job %s", job_id)

    def _with_retry(self, call: Callable[[], AnalysisRun]) -> AnalysisRun:
        # DuckDB refuses a read-write connection while a read-only one of this process is open (a page reading the
        # warehouse); pages hold theirs for well under a second, so retry for a while.
        deadline = time.monotonic() + self.retry_seconds
        while True:
            try:
                return call()
            except WarehouseError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)


def recent_jobs(db: Any, limit: int = 10) -> list[AnalysisJob]:
    """The newest analysis jobs, newest first."""
    return list(db.scalars(select(AnalysisJob).order_by(AnalysisJob.id.desc()).limit(limit)))


def last_duration(db: Any) -> float | None:
    """Seconds the newest finished analysis took (an estimate for the next one), None when none finished yet."""
    job = db.scalars(
        select(AnalysisJob)
        .where(AnalysisJob.status == "done", AnalysisJob.started_at.is_not(None), AnalysisJob.finished_at.is_not(None))
        .order_by(AnalysisJob.id.desc())
        .limit(1)
    ).first()
    if job is None or job.started_at is None or job.finished_at is None:
        return None
    return seconds_between(job.started_at, job.finished_at)


def seconds_between(start: dt.datetime, end: dt.datetime) -> float:
    """``end - start`` in seconds; SQLite returns naive UTC timestamps, so both are read as UTC."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.UTC)
    return (end - start).total_seconds()


def snapshot_of(db: Any, job: AnalysisJob) -> Snapshot | None:
    """The snapshot a finished job stored, None before or when it was deleted."""
    return db.get(Snapshot, job.snapshot_id) if job.snapshot_id is not None else None

"""The Analyses page (admin and board): the snapshots so far, and running a new analysis with its progress.

An analysis takes tens of seconds on a real portfolio, so it runs in the background
(:class:`salesfolio.services.jobs.JobRunner`, one at a time) and the page polls a small status fragment with HTMX
(``hx-trigger="every 1s"``) until the job is done or failed; then the fragment stops polling and links to the new
overview, or says in words why it failed. The runner lives on ``app.state.jobs``: it is created when the app
starts (this router's lifespan, merged into the app's by FastAPI) or on first use (an app served without its
lifespan, as in tests), and shut down when the app stops, letting a running analysis finish and be stored.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Path, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from salesfolio.services import jobs
from salesfolio.store.models import AnalysisJob, Snapshot, User
from salesfolio.web.deps import DbSession, LangDep, get_workspace, require_role
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.templating import NavItem, path_for, render

RUNNERS = ("admin", "board")
"""Roles that may run an analysis (and see this page)."""
Runner = Annotated[User, Depends(require_role(*RUNNERS))]
LABEL_MAX = 100

MSG_DATE = N_("Enter the reference date as a date, e.g. 2025-06-30.")
MSG_DATE_RANGE = N_("The reference date must be between %(first)s and %(last)s.")
MSG_LABEL = N_("The label can have at most %(max)s characters.")
MSG_BUSY = N_("An analysis is running already (requested by %(user)s); wait for it to finish.")
MSG_EMPTY = N_("There is no data to analyse yet: import clients or invoice lines first (page Import).")
JOB_MESSAGES = {
    "the warehouse has no clients and no invoice lines yet: run salesfolio import first": MSG_EMPTY,
    "no clients: import clients or invoice lines before analysing": MSG_EMPTY,
    jobs.MSG_INTERRUPTED: N_("The app stopped before the analysis finished; run it again."),
    jobs.MSG_BUSY_WAREHOUSE: N_(
        "The warehouse stayed busy (an import or another program is using it); try again later."
    ),
}
"""Failure messages of the job runner and the analysis service, in words for the page (translated)."""
STATUS_LABELS = {
    "queued": N_("waiting to start"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
}
FIRST_DATE = dt.date(2000, 1, 1)

_RUNNER_LOCK = threading.Lock()


def job_runner(app: FastAPI) -> jobs.JobRunner:
    """The app's job runner (``app.state.jobs``), created on first use."""
    runner: jobs.JobRunner | None = getattr(app.state, "jobs", None)
    if runner is None:
        with _RUNNER_LOCK:
            runner = getattr(app.state, "jobs", None)
            if runner is None:
                runner = jobs.JobRunner(app.state.workspace)
                app.state.jobs = runner
    return runner


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the job runner with the app (marking jobs a stopped process left behind) and stop it after."""
    await run_in_threadpool(job_runner, app)
    yield
    runner: jobs.JobRunner | None = getattr(app.state, "jobs", None)
    if runner is not None:
        await run_in_threadpool(runner.shutdown)


router = APIRouter(include_in_schema=False, lifespan=lifespan)
NAV = [NavItem("analyses", N_("Analyses"), RUNNERS, "activity")]


def job_message(lang: Lang, job: AnalysisJob) -> str:
    """The job's message in the user's language (known failures translated, others as recorded)."""
    known = JOB_MESSAGES.get(job.message)
    return lang.gettext(known) if known else job.message


def _snapshots(db: DbSession) -> list[Snapshot]:
    return list(db.scalars(select(Snapshot).order_by(Snapshot.created_at.desc(), Snapshot.id.desc())))


def _status_context(request: Request, db: DbSession, lang: Lang, job: AnalysisJob) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    started = job.started_at or job.created_at
    end = job.finished_at or now
    return {
        "job": job,
        "elapsed": max(0.0, jobs.seconds_between(started, end)),
        "estimate": jobs.last_duration(db),
        "status_labels": STATUS_LABELS,
        "message": job_message(lang, job) if job.message else "",
        "snapshot_url": path_for(request, "overview", {"snapshot": job.snapshot_id}) if job.snapshot_id else "",
    }


def _page(
    request: Request,
    db: DbSession,
    lang: Lang,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    shown: int | None = None,
    status_code: int = 200,
) -> Response:
    runner = job_runner(request.app)
    active_id = runner.active_job_id if shown is None else shown
    active = db.get(AnalysisJob, active_id) if active_id is not None else None
    workspace = get_workspace(request)
    context = {
        "snapshots": _snapshots(db),
        "recent": jobs.recent_jobs(db),
        "active": _status_context(request, db, lang, active) if active is not None else None,
        "form": form or {"as_of": workspace.as_of().isoformat(), "label": ""},
        "errors": errors or {},
        "error": error,
        "status_labels": STATUS_LABELS,
        "job_message": lambda job: job_message(lang, job),
    }
    return render(request, "analyses.html", context, status_code=status_code)


@router.get("/analyses", name="analyses")
def analyses_page(
    request: Request,
    db: DbSession,
    user: Runner,
    lang: LangDep,
    job: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Show this job's status.")] = None,
) -> Response:
    """The snapshots, the form to run an analysis, and the progress of a running (or the chosen) job."""
    return _page(request, db, lang, shown=job)


def _parse(as_of: str, label: str, today: dt.date) -> tuple[dt.date | None, dict[str, str]]:
    errors: dict[str, str] = {}
    last = dt.date(today.year + 1, 12, 31)
    try:
        date = dt.date.fromisoformat(as_of.strip())
    except ValueError:
        errors["as_of"] = MSG_DATE
        date = None
    if date is not None and not FIRST_DATE <= date <= last:
        errors["as_of"] = MSG_DATE_RANGE
    if len(label.strip()) > LABEL_MAX:
        errors["label"] = MSG_LABEL
    return date, errors


@router.post("/analyses", name="analyses_run")
def run(
    request: Request,
    db: DbSession,
    user: Runner,
    lang: LangDep,
    as_of: Annotated[str, Form(max_length=40)] = "",
    label: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Queue an analysis as of the given date; refused while another one is queued or running."""
    today = dt.date.today()
    date, problems = _parse(as_of, label, today)
    form = {"as_of": as_of, "label": label}
    if date is None or problems:
        params = {"first": FIRST_DATE.isoformat(), "last": f"{today.year + 1}-12-31", "max": str(LABEL_MAX)}
        errors = {k: lang.gettext(v) % params if "%(" in v else lang.gettext(v) for k, v in problems.items()}
        return _page(request, db, lang, form=form, errors=errors, status_code=400)
    runner = job_runner(request.app)
    try:
        job = runner.submit_analysis(as_of=date, label=label.strip() or date.isoformat(), username=user.username)
    except jobs.AnalysisBusy as busy:
        running = db.get(AnalysisJob, busy.job_id)
        who = running.created_by if running is not None and running.created_by else "–"
        return _page(request, db, lang, form=form, error=lang.gettext(MSG_BUSY) % {"user": who}, status_code=409)
    return RedirectResponse(path_for(request, "analyses", {"job": job.id}), status_code=303)


@router.get("/analyses/jobs/{job_id}", name="analysis_job")
def job_status(
    request: Request, db: DbSession, user: Runner, lang: LangDep, job_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    """The status fragment of one job (polled every second while it is queued or running)."""
    job = db.get(AnalysisJob, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="No such analysis job")
    return render(request, "_analysis_status.html", {"active": _status_context(request, db, lang, job)})

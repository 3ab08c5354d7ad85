"""The Analyses page through HTTP: who may run, the background job polled to completion, refusals and failures."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from salesfolio.services.analysis import AnalysisRun
from salesfolio.services.jobs import JobRunner
from salesfolio.store.models import AnalysisJob, Snapshot
from salesfolio.web.app import create_app
from salesfolio.workspace import Workspace
from web_fixtures import AS_OF, PASSWORD, World, build_world, cheap_passwords, csrf_of


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with cheap_passwords():
        built = build_world(tmp_path_factory.mktemp("analyses"))
        yield built
        runner = getattr(built.app.state, "jobs", None)
        if runner is not None:
            runner.shutdown()
        built.workspace.close()


def poll_status(http, job_id: int, timeout: float = 60.0) -> str:
    """GET the status fragment every 0.1 s until the job is done or failed (bounded); its HTML."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"/analyses/jobs/{job_id}")
        assert response.status_code == 200
        status = re.search(r'data-status="(\w+)"', response.text)
        assert status is not None
        if status.group(1) in ("done", "failed"):
            assert "hx-trigger" not in response.text  # polling stops
            return response.text
        assert 'hx-trigger="every 1s"' in response.text
        assert time.monotonic() < deadline, "the analysis did not finish in time"
        time.sleep(0.1)


def job_id_of(location: str) -> int:
    match = re.fullmatch(r"/analyses\?job=(\d+)", location)
    assert match is not None, location
    return int(match.group(1))


@pytest.mark.parametrize(("username", "status"), [("admin", 200), ("board", 200), ("maria", 403), ("anna", 403)])
def test_who_may_open_and_run(world: World, username: str, status: int) -> None:
    http = world.login(username)
    assert http.get("/analyses").status_code == status
    nav = http.get("/").text
    assert ('href="/analyses"' in nav) is (status == 200)
    if status == 403:
        response = http.post("/analyses", data={"as_of": "2025-06-30", "csrf_token": csrf_of(http)})
        assert response.status_code == 403
        assert http.get("/analyses/jobs/1").status_code == 403


def test_page_lists_snapshots_with_their_facts(world: World) -> None:
    with world.workspace.sessions.begin() as db:
        snapshot = db.get(Snapshot, world.snapshot_id)
        assert snapshot is not None
        snapshot.created_by = "ada"
        snapshot.warnings = ["margin dropped: no cost", "relationship dropped"]
    page = world.login("board").get("/analyses").text
    table = page[page.index('id="snapshots-table"') :]
    row = table[table.index("2025 H1") : table.index("</tr>", table.index("2025 H1"))]
    assert f'href="/?snapshot={world.snapshot_id}"' in table
    assert "Jun 30, 2025" in row and ">ada<" in row
    assert '<td class="text-end">7</td>' in row
    assert 'title="margin dropped: no cost · relationship dropped">2<' in row
    # the form defaults to the workspace's reference date ("today" here)
    assert f'name="as_of" value="{dt.date.today().isoformat()}"' in page


def test_run_from_the_web_polls_to_completion_and_links_the_overview(world: World) -> None:
    http = world.login("board")
    before = len(http.get("/api/snapshots").json())
    response = http.post(
        "/analyses", data={"as_of": AS_OF.isoformat(), "label": "Board run <b>", "csrf_token": csrf_of(http)}
    )
    assert response.status_code == 303
    job_id = job_id_of(response.headers["location"])
    html = poll_status(http, job_id)
    with world.workspace.sessions() as db:
        job = db.get(AnalysisJob, job_id)
        assert job is not None and job.status == "done" and job.created_by == "board"
        snapshot = db.get(Snapshot, job.snapshot_id)
        assert snapshot is not None
        assert (snapshot.label, snapshot.as_of, snapshot.n_clients) == ("Board run <b>", AS_OF, 7)
    assert f'href="/?snapshot={snapshot.id}"' in html
    assert "Open the new overview" in html
    assert len(http.get("/api/snapshots").json()) == before + 1
    page = http.get(response.headers["location"]).text
    assert "Board run &lt;b&gt;" in page and "Board run <b>" not in page
    assert http.get(f"/?snapshot={snapshot.id}").status_code == 200


def test_form_errors_are_shown_next_to_the_fields(world: World) -> None:
    http = world.login("admin")
    token = csrf_of(http)
    bad = http.post("/analyses", data={"as_of": "30.06.2025", "label": "x" * 101, "csrf_token": token})
    assert bad.status_code == 400
    assert (
        '<div class="invalid-feedback" id="error-as_of">Enter the reference date as a date, e.g. 2025-06-30.'
        in bad.text
    )
    assert '<div class="invalid-feedback" id="error-label">The label can have at most 100 characters.' in bad.text
    far = http.post("/analyses", data={"as_of": "1999-12-31", "csrf_token": token})
    last = f"{dt.date.today().year + 1}-12-31"
    assert far.status_code == 400
    assert f"The reference date must be between 2000-01-01 and {last}." in far.text
    assert http.post("/analyses", data={"as_of": "2025-06-30"}).status_code == 403  # no CSRF token


class Gate:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.open = threading.Event()

    def __call__(self, ws: Workspace, *, as_of: dt.date, username: str | None, label: str | None) -> AnalysisRun:
        self.started.set()
        assert self.open.wait(10)
        with ws.sessions.begin() as db:
            snapshot = Snapshot(label=label or "", as_of=as_of, created_by=username)
            db.add(snapshot)
            db.flush()
            return AnalysisRun(result=None, snapshot_id=snapshot.id)  # type: ignore[arg-type]


def test_a_second_run_while_one_runs_is_refused(tmp_path: Path) -> None:
    with cheap_passwords():
        world = build_world(tmp_path)
        gate = Gate()
        world.app.state.jobs = JobRunner(world.workspace, analyse=gate)
        try:
            admin, board = world.login("admin"), world.login("board")
            first = admin.post("/analyses", data={"as_of": "2025-06-30", "csrf_token": csrf_of(admin)})
            job_id = job_id_of(first.headers["location"])
            assert gate.started.wait(10)
            running = admin.get(first.headers["location"]).text
            assert 'data-status="running"' in running and 'hx-trigger="every 1s"' in running
            assert 'id="analysis-run" disabled' in running
            second = board.post("/analyses", data={"as_of": "2025-06-30", "csrf_token": csrf_of(board)})
            assert second.status_code == 409
            assert "An analysis is running already (requested by admin); wait for it to finish." in second.text
            gate.open.set()
            poll_status(admin, job_id)
            with world.workspace.sessions() as db:
                assert db.scalars(select(AnalysisJob.status)).all() == ["done"]
        finally:
            gate.open.set()
            world.app.state.jobs.shutdown()
            world.workspace.close()


def test_failure_on_an_empty_warehouse_is_explained_in_the_users_language(tmp_path: Path) -> None:
    from salesfolio.services.users import create_user

    ws = Workspace.init(tmp_path / "empty", language="pl")
    with cheap_passwords():
        with ws.sessions.begin() as db:
            create_user(db, username="ada", password=PASSWORD, role="admin", language="pl")
        app = create_app(ws)
        world = World(ws, app, 0, 0)
        try:
            http = world.login("ada")
            response = http.post("/analyses", data={"as_of": "2025-06-30", "csrf_token": csrf_of(http)})
            html = poll_status(http, job_id_of(response.headers["location"]))
            assert 'data-status="failed"' in html
            assert (
                "Analiza nie powiodła się: Nie ma jeszcze danych do analizy: najpierw zaimportuj klientów lub "
                "pozycje faktur (strona Import)."
            ) in html
            page = http.get("/analyses").text
            assert "nieudana" in page and "Nie ma jeszcze danych do analizy" in page
        finally:
            app.state.jobs.shutdown()
            ws.close()


def test_runner_is_started_and_stopped_with_the_app(tmp_path: Path) -> None:
    """The router's lifespan (merged into the app's) creates the runner at start-up and shuts it down after."""
    from fastapi.testclient import TestClient

    ws = Workspace.init(tmp_path / "life")
    with ws.sessions.begin() as db:
        db.add(AnalysisJob(as_of=AS_OF, status="running", created_by="ghost"))
    app = create_app(ws)
    with TestClient(app):
        runner = app.state.jobs
        assert isinstance(runner, JobRunner) and runner.interrupted == 1
    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit_analysis(as_of=AS_OF)
    ws.close()

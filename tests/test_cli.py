"""The salesfolio command line, end to end through Typer's runner on real workspaces."""

import datetime as dt

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from conftest import shared_data
from salesfolio.cli import app
from salesfolio.store.models import Snapshot, User
from salesfolio.workspace import Workspace

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_version_and_help():
    assert "salesfolio 0.1.0" in invoke("--version").output
    out = invoke("--help").output
    for command in ("init", "import", "quality", "demo", "analyze", "user", "serve"):
        assert command in out


def test_init_then_refuse_to_overwrite(tmp_path):
    r = invoke("init", str(tmp_path / "acme"), "--name", "ACME", "--currency", "eur")
    assert r.exit_code == 0, r.output
    assert Workspace.open(tmp_path / "acme").config.workspace.currency == "EUR"
    again = invoke("init", str(tmp_path / "acme"))
    assert again.exit_code == 1
    assert "refusing to overwrite a workspace" in again.output


def test_commands_on_a_folder_that_is_not_a_workspace(tmp_path):
    r = invoke("analyze", "-w", str(tmp_path))
    assert r.exit_code == 1
    assert "not a salesfolio workspace" in r.output


def test_demo_creates_data_users_and_a_snapshot(tmp_path):
    folder = tmp_path / "demo"
    r = invoke("demo", str(folder), "--clients", "120", "--years", "2", "--as-of", "2026-06-30")
    assert r.exit_code == 0, r.output
    assert "Demo logins" in r.output
    assert "demo-board" in r.output
    ws = Workspace.open(folder)
    with ws.sessions() as s:
        assert sorted(u.role for u in s.scalars(select(User))) == ["admin", "board", "manager", "rep"]
        snap = s.scalars(select(Snapshot)).one()
        assert snap.as_of == dt.date(2026, 6, 30)
        assert snap.n_clients == 120
    with ws.warehouse() as wh:
        assert wh.row_count("clients") == 120
    ws.close()


def test_import_quality_analyze_export_on_superstore(tmp_path):
    source = shared_data("superstore", "superstore_classic_9994.csv")
    folder = tmp_path / "shop"
    assert invoke("init", str(folder), "--currency", "USD").exit_code == 0
    r = invoke("import", str(source), "-w", str(folder))
    assert r.exit_code == 0, r.output
    q = invoke("quality", "-w", str(folder), "--as-of", "2019-12-31")
    assert q.exit_code == 0, q.output
    assert (folder / "quality.html").is_file()
    out = tmp_path / "clients.xlsx"
    a = invoke("analyze", "-w", str(folder), "--as-of", "2019-12-31", "--export", str(out))
    assert a.exit_code == 0, a.output
    assert "Revenue, last 12 months" in a.output
    assert out.is_file() and out.stat().st_size > 10_000


def test_import_of_a_bad_file_fails_and_loads_nothing(tmp_path):
    folder = tmp_path / "w"
    assert invoke("init", str(folder)).exit_code == 0
    bad = tmp_path / "clients.csv"
    bad.write_text("client_id;name\nC1;Alpha\nC1;Beta\n", encoding="utf-8")
    r = invoke("import", str(bad), "-w", str(folder), "--table", "clients")
    assert r.exit_code == 1
    assert "clients.csv" in r.output and "row 3" in r.output
    with Workspace.open(folder).warehouse() as wh:
        assert wh.row_count("clients") == 0


def test_import_missing_path(tmp_path):
    folder = tmp_path / "w"
    invoke("init", str(folder))
    r = invoke("import", str(tmp_path / "nope.csv"), "-w", str(folder))
    assert r.exit_code == 1
    assert "nope.csv: no such file or folder" in r.output


def test_user_add_and_list(tmp_path):
    folder = tmp_path / "w"
    invoke("init", str(folder))
    r = invoke("user", "add", "anna", "--role", "rep", "--rep-id", "R1", "-w", str(folder), "--password", "s3cret-pass")
    assert r.exit_code == 0, r.output
    bad = invoke("user", "add", "bob", "--role", "rep", "-w", str(folder), "--password", "s3cret-pass")
    assert bad.exit_code == 1
    assert "a rep needs --rep-id" in bad.output
    prompted = invoke("user", "add", "cecil", "--role", "board", "-w", str(folder), input="long-pass\nlong-pass\n")
    assert prompted.exit_code == 0, prompted.output
    listing = invoke("user", "list", "-w", str(folder)).output
    assert "anna" in listing and "cecil" in listing
    assert "argon2" not in listing


@pytest.mark.parametrize("option", ["--as-of=2024-13-01", "--as-of=soon"])
def test_bad_dates_are_reported(tmp_path, option):
    folder = tmp_path / "w"
    invoke("init", str(folder))
    r = invoke("analyze", "-w", str(folder), option)
    assert r.exit_code == 1
    assert "--as-of must be a date YYYY-MM-DD" in r.output

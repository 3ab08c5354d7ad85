"""The analysis run end to end: demo data -> warehouse -> analysis -> snapshot in the app store -> exports."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, select

from salesfolio import demo
from salesfolio.reports.export import neutralise
from salesfolio.services.analysis import AnalysisError, export_clients, latest_snapshot_id, run_analysis
from salesfolio.store.models import AuditEntry, Snapshot, SnapshotClient
from salesfolio.workspace import Workspace

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("ws") / "demo", reference_date=AS_OF.isoformat())
    with ws.warehouse() as wh:
        demo.load(wh, demo.generate(clients=250, years=3, seed=7, as_of=AS_OF))
    run = run_analysis(ws, as_of=AS_OF, username="tester")
    yield ws, run
    ws.close()


def test_snapshot_stores_every_client_with_results(analysed):
    ws, run = analysed
    assert latest_snapshot_id(ws) == run.snapshot_id
    with ws.sessions() as s:
        snap = s.get(Snapshot, run.snapshot_id)
        assert snap is not None
        assert snap.as_of == AS_OF
        assert snap.n_clients == 250
        n = s.scalar(select(func.count()).where(SnapshotClient.snapshot_id == run.snapshot_id))
        assert n == 250
        row = s.scalars(
            select(SnapshotClient)
            .where(SnapshotClient.snapshot_id == run.snapshot_id)
            .order_by(SnapshotClient.revenue_ttm.desc())
        ).first()
        assert row is not None
        assert row.segment in {"strategic", "development", "maintain", "operational", "unknown"}
        assert row.abc_revenue == "A"  # the biggest client is in class A by definition
        assert 0 <= row.score <= 100
        assert row.team is not None  # owners' teams copied so a manager's scope is one filter
        contributions = row.details["contributions"]
        assert abs(sum(v for v in contributions.values() if v is not None) - row.score) < 1e-6
        assert "recency_days" in row.details["features"]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "analysis.run")).all()
        assert [a.username for a in audit] == ["tester"]


def test_kpis_match_the_invoice_lines(analysed):
    ws, run = analysed
    with ws.warehouse() as wh:
        lines = wh.table("invoice_lines")
        start = AS_OF - dt.timedelta(days=365)
        expected = lines.filter((lines.date > start) & (lines.date <= AS_OF)).revenue.sum().execute()
    assert run.result.summary["kpis"]["revenue_ttm"] == pytest.approx(expected, rel=1e-9)
    segs = run.result.summary["segments"]
    assert sum(s["clients"] for s in segs) == 250


def test_planted_patterns_are_found(analysed):
    _, run = analysed
    clients = run.clients
    # development clients: small today, large potential
    dev = clients[clients["segment"] == "development"]
    assert len(dev) > 0
    assert dev["headroom"].median() > clients["headroom"].median()
    # some clients are flagged with early-warning signals and carry expected loss
    assert (clients["n_signals"] > 0).sum() > 0
    assert clients["expected_loss"].sum() > 0


def test_models_reported(analysed):
    _, run = analysed
    assert set(run.result.models) == {"churn", "forecast"}
    assert run.result.models["forecast"]["status"] in {"ok", "poor_fit"}
    assert "beta_geo" in run.result.models["forecast"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_export_formats(analysed, tmp_path, suffix):
    _, run = analysed
    target = tmp_path / f"clients{suffix}"
    export_clients(run.clients, target)
    if suffix == ".csv":
        back = pd.read_csv(target, encoding="utf-8-sig")
    elif suffix == ".xlsx":
        back = pd.read_excel(target, engine="calamine")
    else:
        back = pd.read_parquet(target)
    assert len(back) == 250
    assert {"client_id", "score", "segment", "expected_loss"} <= set(back.columns)


def test_export_refuses_unknown_extension(analysed, tmp_path):
    _, run = analysed
    with pytest.raises(ValueError, match=r"cannot export to \.txt; use \.csv, \.xlsx or \.parquet"):
        export_clients(run.clients, tmp_path / "clients.txt")


def test_export_neutralises_formulas(tmp_path):
    frame = pd.DataFrame({"client_id": ["1"], "name": ['=HYPERLINK("http://evil")'], "revenue_ttm": [-5.0]})
    target = tmp_path / "x.csv"
    export_clients(frame, target)
    text = target.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text
    assert ",-5.0" in text  # numbers untouched
    assert neutralise("+1") == "'+1"


def test_empty_workspace_says_to_import_first(tmp_path):
    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(AnalysisError, match="no clients and no invoice lines yet: run salesfolio import first"):
        run_analysis(ws, as_of=AS_OF)
    ws.close()

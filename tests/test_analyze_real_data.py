"""`salesfolio analyze` on every invoice-line data set of ../shared/data, imported with the real importer."""

import datetime as dt

import pytest

from conftest import shared_data
from salesfolio.ingest import run_import
from salesfolio.services.analysis import run_analysis
from salesfolio.workspace import Workspace

CASES = [
    # (data set path, as-of, has cost)
    (("uci-online-retail", "online_retail.csv.gz"), dt.date(2011, 12, 9), False),
    (("cdnow", "CDNOW_master.txt"), dt.date(1998, 6, 30), False),
    (("superstore", "superstore_classic_9994.csv"), dt.date(2019, 12, 30), True),
]


@pytest.mark.slow
@pytest.mark.parametrize(("parts", "as_of", "has_cost"), CASES, ids=["uci", "cdnow", "superstore"])
def test_analyze_real_data(tmp_path, parts, as_of, has_cost):
    source = shared_data(*parts)
    ws = Workspace.init(tmp_path / "ws", reference_date=as_of.isoformat())
    with ws.warehouse() as wh:
        report = run_import(wh, [source])
        assert report.ok, report.render_text()
        n_clients = wh.row_count("clients")
    run = run_analysis(ws, as_of=as_of)
    clients = run.clients
    assert len(clients) == n_clients
    assert clients["score"].between(0, 100).all()
    assert clients["segment"].isin(["strategic", "development", "maintain", "operational", "unknown"]).all()
    assert set(clients["abc_revenue"].dropna()) <= {"A", "B", "C", "unknown"}
    dropped = run.result.summary["dropped_criteria"]
    margin_warnings = [w for w in run.result.warnings if w.startswith("margin dropped")]
    if has_cost:
        assert "margin" not in dropped
        assert clients["margin_ttm"].notna().any()
    else:
        assert "margin" in dropped
        assert margin_warnings, run.result.warnings
        assert clients["margin_ttm"].isna().all()
    # no assessments in these exports: potential-based criteria drop out with a warning, never a crash
    assert "growth_potential" in dropped
    forecast = run.result.models["forecast"]
    assert forecast["status"] in {"ok", "poor_fit"}
    assert "backtest" in forecast
    assert run.result.models["churn"]["verdict"] or run.result.models["churn"]["message"]
    ws.close()

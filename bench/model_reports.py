"""Backtests of the purchase forecast and the churn model on the demo and on every real data set.

Reproduces the figures in docs/models.md: each data set is imported with the real importer into an in-memory
DuckDB warehouse, then the BG/NBD + Gamma-Gamma holdout backtest and the churn time-split backtest run as the
analysis does. Run: ``.venv/bin/python bench/model_reports.py [--only NAME] [--max-training-rows N]``; prints
Markdown tables. ``--max-training-rows`` sets ``[analysis.churn] max_training_rows_per_cutoff`` (0: every client),
to compare the churn model fitted on a sample with the one fitted on all clients.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import warnings
from pathlib import Path

from salesfolio import demo
from salesfolio.analytics.churn_backtest import churn_backtest
from salesfolio.analytics.clv.backtest import forecast_backtest
from salesfolio.analytics.config import AnalysisConfig
from salesfolio.analytics.features import client_features
from salesfolio.contract import TABLES
from salesfolio.ingest import run_import
from salesfolio.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

SETS = {
    "demo (400 clients)": None,
    "CDNOW master": DATA / "cdnow" / "CDNOW_master.txt",
    "UCI Online Retail": DATA / "uci-online-retail" / "online_retail.csv.gz",
    "Superstore": DATA / "superstore" / "superstore_classic_9994.csv",
}


def load(name: str) -> tuple[Warehouse, dt.date]:
    wh = Warehouse.connect("duckdb://")
    source = SETS[name]
    if source is None:
        as_of = dt.date(2025, 12, 31)
        demo.load(wh, demo.generate(clients=400, years=3, seed=42, as_of=as_of))
        return wh, as_of
    report = run_import(wh, [source])
    if not report.ok:
        raise SystemExit(report.render_text())
    return wh, _as_date(wh.table("invoice_lines").date.max().execute())


def _as_date(value: object) -> dt.date:
    """A date from what an engine returns for a date aggregate (date, datetime or pandas Timestamp)."""
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime().date()  # type: ignore[no-any-return]
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"not a date: {value!r}")


def forecast_row(wh: Warehouse, as_of: dt.date, name: str) -> str:
    lines = wh.table("invoice_lines")
    first = _as_date(lines.date.min().execute())
    span = (as_of - first).days
    # CDNOW: the paper's 39 + 39 weeks; others: hold out the last quarter of the history, at most a year.
    horizon = 273 if name.startswith("CDNOW") else min(365, span // 3)
    cutoff = as_of - dt.timedelta(days=horizon)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = forecast_backtest(lines, cutoff=cutoff, horizon_days=horizon)
    t = bt.totals
    return (
        f"| {name} | {cutoff} | {horizon} | {bt.n_clients:,} | {t['predicted_purchases']:,.0f} | "
        f"{t['actual_purchases']:,.0f} | {bt.total_error_pct_purchases:+.1f} % | {t['predicted_revenue']:,.0f} | "
        f"{t['actual_revenue']:,.0f} | {bt.total_error_pct_revenue:+.1f} % | {bt.mae_purchases:.2f} | "
        f"{bt.correlation_purchases:.2f} |"
    )


def churn_rows(wh: Warehouse, as_of: dt.date, name: str, horizon: int, max_rows: int | None = None) -> list[str]:
    tables = {n: wh.table(n) for n in TABLES}
    churn: dict[str, int] = {"horizon_months": horizon}
    if max_rows is not None:
        churn["max_training_rows_per_cutoff"] = max_rows
    config = AnalysisConfig.model_validate({"churn": churn})
    report = churn_backtest(tables, as_of, client_features, config)
    if report.status != "ok":
        return [f"| {name} | {horizon} | – | insufficient data: {report.message} | | | | | | |"]
    rows = []
    for c in report.cutoffs:
        s = c.scores
        rows.append(
            f"| {name} | {horizon} | {c.cutoff} | {s['model'].auc:.3f} | {s['recency'].auc:.3f} | "
            f"{s['signals'].auc:.3f} | {100 * s['model'].lost_revenue_share:.1f} % | "
            f"{100 * s['size'].lost_revenue_share:.1f} % | {s['model'].precision_at_k:.3f} | "
            f"{c.brier:.4f} / {c.brier_reference:.4f} |"
        )
    rows.append(f"| {name} | {horizon} | verdict | {report.recommendation} | | | | | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run one data set (a prefix of its name)")
    parser.add_argument(
        "--max-training-rows", type=int, help="clients per training cut-off the churn model is fitted on (0: all)"
    )
    args = parser.parse_args()
    names = [n for n in SETS if not args.only or n.lower().startswith(args.only.lower())]
    forecast, churn = [], []
    for name in names:
        started = time.perf_counter()
        wh, as_of = load(name)
        forecast.append(forecast_row(wh, as_of, name))
        horizon = 3 if name.startswith("UCI") else 6
        churn.extend(churn_rows(wh, as_of, name, horizon, args.max_training_rows))
        print(f"{name}: as of {as_of}, {time.perf_counter() - started:.1f} s", flush=True)
        wh.close()
    print(
        "\n| data | cut-off | holdout days | clients | predicted purchases | actual | error | predicted revenue "
        "| actual | error | MAE purchases/client | correlation |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(forecast))
    print(
        "\n| data | horizon (months) | cut-off | AUC model | AUC recency | AUC signals | lost revenue in top 10 %: "
        "model | size | precision of the top 10 % (model) | Brier model / base rate |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(churn))


if __name__ == "__main__":
    main()

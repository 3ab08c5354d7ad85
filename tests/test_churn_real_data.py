"""The churn backtest on real public data: UCI Online Retail and the Tableau Superstore.

Each test builds the canonical invoice lines itself (the importer is tested elsewhere), runs the backtest with the
production feature function and prints the numbers ``docs/churn.md`` reports (run with ``-s`` to see them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from conftest import shared_data
from salesfolio.analytics.churn import ChurnSettings
from salesfolio.analytics.churn_backtest import SHOW_SIZE, ChurnBacktest, churn_backtest
from salesfolio.analytics.features import client_features
from salesfolio.contract import TABLES
from salesfolio.warehouse import Warehouse


def report(name: str, result: ChurnBacktest) -> None:
    print(f"\n{name}: {result.status}; {result.message}\n{result.verdict}")
    for r in result.cutoffs:
        print(
            f"  cut-off {r.cutoff} (trained on {', '.join(c.isoformat() for c in r.training_cutoffs)}): "
            f"{r.n_clients} clients, {r.n_positive} with the outcome ({r.n_churned} churned), k={r.k}, "
            f"Brier {r.brier:.4f} (base rate {r.brier_reference:.4f}), calibration {r.calibration}"
        )
        for score, m in r.scores.items():
            print(
                f"    {score:8s} AUC {m.auc:.3f}  AUC churn {m.auc_churn:.3f}  precision@k {m.precision_at_k:.3f}  "
                f"lost revenue held {m.lost_revenue_share:.1%}"
            )
        print(f"    oracle lost revenue held {r.lost_revenue_share_oracle:.1%}")


@pytest.fixture(scope="module")
def uci() -> Iterator[dict[str, Any]]:
    raw = pd.read_csv(
        shared_data("uci-online-retail", "online_retail.csv.gz"),
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "float64"},
    )
    raw = raw[raw.CustomerID.notna()].reset_index(drop=True)
    lines = pa.table(
        {
            "invoice_id": raw.InvoiceNo.to_numpy(),
            "line_no": (raw.groupby("InvoiceNo").cumcount() + 1).to_numpy(),
            "client_id": raw.CustomerID.astype("int64").astype(str).to_numpy(),
            "date": pa.array(pd.to_datetime(raw.InvoiceDate).dt.date, type=pa.date32()),
            "product_id": raw.StockCode.to_numpy(),
            "quantity": raw.Quantity.astype(float).to_numpy(),
            "revenue": (raw.Quantity * raw.UnitPrice).astype(float).to_numpy(),
        }
    )
    with Warehouse.connect("duckdb://") as w:
        w.replace("invoice_lines", lines)
        yield {name: w.table(name) for name in TABLES}


@pytest.fixture(scope="module")
def superstore() -> Iterator[dict[str, Any]]:
    raw = pd.read_csv(shared_data("superstore", "superstore_classic_9994.csv"), encoding="utf-8-sig")
    lines = pa.table(
        {
            "invoice_id": raw["Order ID"].to_numpy(),
            "line_no": raw["Row ID"].astype("int64").to_numpy(),
            "client_id": raw["Customer ID"].to_numpy(),
            "date": pa.array(pd.to_datetime(raw["Order Date"], format="%m/%d/%Y").dt.date, type=pa.date32()),
            "product_id": raw["Product ID"].to_numpy(),
            "quantity": raw["Quantity"].astype(float).to_numpy(),
            "revenue": raw["Sales"].astype(float).to_numpy(),
            "cost": (raw["Sales"] - raw["Profit"]).astype(float).to_numpy(),
        }
    )
    products = raw.drop_duplicates("Product ID")
    with Warehouse.connect("duckdb://") as w:
        w.replace("invoice_lines", lines)
        w.replace(
            "products",
            pa.table(
                {"product_id": products["Product ID"].to_numpy(), "category": products["Sub-Category"].to_numpy()}
            ),
        )
        yield {name: w.table(name) for name in TABLES}


def test_uci_has_too_short_a_history_for_six_months(uci: dict[str, Any]) -> None:
    # 2010-12-01 to 2011-12-09: a 6-month backtest needs a training cut-off with 6 months of data before it
    result = churn_backtest(uci, date(2011, 12, 9), client_features)
    report("UCI Online Retail, 6 months", result)
    assert result.status == "insufficient_data"
    assert result.recommendation == SHOW_SIZE
    assert result.skipped[1] == (
        date(2010, 12, 9),
        "not enough history before the cut-off 2010-12-09: the invoice lines start on 2010-12-01, the 6-month base "
        "window needs them from 2010-06-09",
    )


def test_uci_three_month_backtest(uci: dict[str, Any]) -> None:
    result = churn_backtest(uci, date(2011, 12, 9), client_features, ChurnSettings(horizon_months=3))
    report("UCI Online Retail, 3 months", result)
    assert result.status == "ok"
    assert [r.cutoff for r in result.cutoffs] == [date(2011, 9, 9), date(2011, 6, 9)]
    assert [r.training_cutoffs for r in result.cutoffs] == [[date(2011, 6, 9), date(2011, 3, 9)], [date(2011, 3, 9)]]
    for r in result.cutoffs:
        assert r.n_clients > 2500
        model, recency = r.scores["model"], r.scores["recency"]
        assert model.auc is not None and recency.auc is not None
        # a clear gain on ranking who leaves or halves; calibrated better than the base rate
        assert model.auc > recency.auc + 0.03
        assert r.brier < r.brier_reference
        # ranking money by probability x base revenue stays close to size alone (most loss is in big clients)
        assert model.lost_revenue_share is not None and r.scores["size"].lost_revenue_share is not None
        assert abs(model.lost_revenue_share - r.scores["size"].lost_revenue_share) < 0.05


def test_superstore_backtest_says_nothing_predicts_churn(superstore: dict[str, Any]) -> None:
    result = churn_backtest(superstore, date(2019, 12, 30), client_features)
    report("Superstore, 6 months", result)
    assert result.status == "ok"
    assert [r.cutoff for r in result.cutoffs] == [date(2019, 6, 30), date(2018, 12, 30)]
    assert result.recommendation == SHOW_SIZE
    assert "Nothing here predicts who stops buying" in result.verdict
    for r in result.cutoffs:
        assert not r.model_beats_size
        assert all(m.auc_churn is not None and m.auc_churn < 0.6 for m in r.scores.values())

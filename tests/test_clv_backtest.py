"""Forecasts per client and the holdout backtest: CDNOW, simulated BG/NBD data, pandas and Ibis, the report."""

from __future__ import annotations

import datetime as dt
import json

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import shared_data
from salesfolio.analytics.clv import (
    BacktestReport,
    BetaGeoModel,
    GammaGammaModel,
    forecast_backtest,
    forecast_clients,
    rfm_summary,
)

D = dt.date


def simulate_lines(n_clients: int, seed: int) -> pd.DataFrame:
    """Purchases drawn from BG/NBD (r=0.8, alpha=40 days, a=0.8, b=3) with Gamma-Gamma spend (p=5, q=4, gamma=80).

    Clients start in the first half of 2022; purchases run to the end of 2023.
    """
    rng = np.random.default_rng(seed)
    start, end_day = D(2022, 1, 1), 729
    rows = []
    for i in range(n_clients):
        rate = rng.gamma(0.8, 1 / 40.0)
        dropout = rng.beta(0.8, 3.0)
        scale = 1 / rng.gamma(4.0, 1 / 80.0)
        time = float(rng.integers(0, 181))
        rows.append((f"C{i:05d}", start + dt.timedelta(days=int(time)), rng.gamma(5.0, scale)))
        while True:
            time += rng.exponential(1 / rate)
            if time > end_day:
                break
            rows.append((f"C{i:05d}", start + dt.timedelta(days=int(time)), rng.gamma(5.0, scale)))
            if rng.random() < dropout:
                break
    return pd.DataFrame(rows, columns=["client_id", "date", "revenue"])


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate_lines(1500, seed=4)


@pytest.fixture(scope="module")
def simulated_report(simulated: pd.DataFrame) -> BacktestReport:
    return forecast_backtest(simulated, cutoff=D(2022, 12, 31), horizon_days=365, data_end=D(2023, 12, 31))


def test_backtest_on_simulated_bg_nbd_data_is_accurate(simulated_report: BacktestReport):
    report = simulated_report
    assert report.converged, report.fit_messages
    assert report.observation_end == D(2023, 12, 31)
    assert report.n_clients == 1500
    # Data drawn from the model itself: the totals must be close and the ranking strongly right.
    assert abs(report.total_error_pct_purchases) < 10
    assert abs(report.total_error_pct_revenue) < 15
    assert report.correlation_purchases > 0.6
    assert report.params_bg["a"] == pytest.approx(0.8, rel=0.5)


def test_report_numbers_are_consistent_with_its_table(simulated_report: BacktestReport):
    report, clients = simulated_report, simulated_report.clients
    assert list(clients.columns) == [
        "client_id",
        "frequency",
        "predicted_purchases",
        "actual_purchases",
        "predicted_revenue",
        "actual_revenue",
        "net_revenue",
    ]
    assert report.totals["actual_purchases"] == clients["actual_purchases"].sum()
    assert report.totals["predicted_revenue"] == pytest.approx(clients["predicted_revenue"].sum())
    mae = (clients["predicted_purchases"] - clients["actual_purchases"]).abs().mean()
    assert report.mae_purchases == pytest.approx(mae)
    t = report.totals
    expected_pct = 100 * (t["predicted_purchases"] - t["actual_purchases"]) / t["actual_purchases"]
    assert report.total_error_pct_purchases == pytest.approx(expected_pct)
    assert report.by_frequency["n_clients"].sum() == report.n_clients
    assert list(report.by_frequency["frequency_band"])[-1] == "7+"


def test_to_dict_is_json_and_leaves_clients_out_by_default(simulated_report: BacktestReport):
    stored = simulated_report.to_dict()
    assert "clients" not in stored
    text = json.dumps(stored, allow_nan=False)
    assert json.loads(text)["cutoff"] == "2022-12-31"
    assert stored["params_bg"].keys() == {"r", "alpha", "a", "b"}
    full = simulated_report.to_dict(include_clients=True)
    assert len(full["clients"]) == simulated_report.n_clients
    json.dumps(full, allow_nan=False)


def test_backtest_in_the_engine_equals_the_pandas_one(simulated: pd.DataFrame, simulated_report: BacktestReport):
    con = ibis.duckdb.connect()
    table = con.create_table("invoice_lines", pa.Table.from_pandas(simulated, preserve_index=False))
    report = forecast_backtest(table, cutoff=D(2022, 12, 31), horizon_days=365, data_end="2023-12-31")
    assert report.params_bg == pytest.approx(simulated_report.params_bg, rel=1e-6)
    assert report.totals == pytest.approx(simulated_report.totals, rel=1e-6)


def test_backtest_refuses_a_horizon_beyond_the_data(simulated: pd.DataFrame):
    latest = max(simulated["date"])
    with pytest.raises(ValueError, match=rf"the data end on {latest}, before cutoff \+ horizon \(2024-06-29\)"):
        forecast_backtest(simulated, cutoff=D(2023, 6, 30), horizon_days=365)
    with pytest.raises(ValueError, match="pass data_end"):
        forecast_backtest(simulated, cutoff=D(2023, 6, 30), horizon_days=365, data_end=D(2023, 12, 31))
    with pytest.raises(ValueError, match="horizon_days must be a positive whole number of days"):
        forecast_backtest(simulated, cutoff=D(2022, 12, 31), horizon_days=30.5)  # type: ignore[arg-type]


def test_cdnow_backtest_in_weeks_and_days(tmp_path):
    frame = pd.read_csv(
        shared_data("cdnow", "CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["customer_id", "client_id", "date", "number_of_cds", "revenue"],
        dtype={"customer_id": str, "client_id": str, "date": str},
    )
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    weeks = forecast_backtest(frame, cutoff=D(1997, 9, 30), horizon_days=273, time_unit_days=7)
    days = forecast_backtest(frame, cutoff=D(1997, 9, 30), horizon_days=273)
    # 2,349 customers: the published 2,357 less the 8 whose only purchases were $0 (see test_clv_summary).
    assert weeks.n_clients == 2349
    assert weeks.params_bg["r"] == pytest.approx(0.243, rel=0.01)
    assert days.params_bg["alpha"] == pytest.approx(7 * weeks.params_bg["alpha"], rel=1e-4)
    assert days.totals == pytest.approx(weeks.totals, rel=1e-4)
    assert weeks.totals["actual_purchases"] == 1882
    # Measured: BG/NBD forecasts 1,653 repeat purchase days for weeks 40-78 against 1,882 (-12 %).
    assert -16 < weeks.total_error_pct_purchases < -8
    assert weeks.correlation_purchases > 0.55


def test_forecast_clients_for_24_months():
    summary = pd.DataFrame(
        {
            "client_id": ["A", "B", "C"],
            "frequency": [5, 0, 1],
            "recency": [300.0, 0.0, 20.0],
            "T": [320.0, 200.0, 400.0],
            "monetary_value": [120.0, 0.0, 80.0],
        }
    )
    bg = BetaGeoModel.from_params(r=0.8, alpha=40.0, a=0.8, b=3.0)
    gg = GammaGammaModel.from_params(p=5.0, q=4.0, gamma=80.0)
    result = forecast_clients(summary, bg, gg)
    assert list(result.columns) == [
        "client_id",
        "p_alive",
        "expected_purchases",
        "expected_average_spend",
        "expected_revenue",
    ]
    expected = bg.expected_purchases(730.5, summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose(result["expected_purchases"], expected)
    np.testing.assert_allclose(
        result["expected_revenue"], result["expected_purchases"] * result["expected_average_spend"]
    )
    assert result.loc[1, "p_alive"] == 1.0  # no repeat purchase: alive by the model's definition
    assert result.loc[0, "expected_purchases"] > result.loc[2, "expected_purchases"]
    # In weeks, the same horizon in days gives the same forecast.
    weeks = summary.assign(recency=summary["recency"] / 7, T=summary["T"] / 7)
    bg_weeks = BetaGeoModel.from_params(r=0.8, alpha=40.0 / 7, a=0.8, b=3.0)
    in_weeks = forecast_clients(weeks, bg_weeks, gg, time_unit_days=7.0)
    np.testing.assert_allclose(in_weeks["expected_revenue"], result["expected_revenue"], rtol=1e-9)
    # Without a spend model only the purchase columns come back.
    assert list(forecast_clients(summary, bg, None).columns) == ["client_id", "p_alive", "expected_purchases"]
    with pytest.raises(ValueError, match="Required column monetary_value missing"):
        forecast_clients(summary.drop(columns="monetary_value"), bg, gg)


def test_forecast_clients_from_a_real_summary(simulated: pd.DataFrame):
    summary = rfm_summary(simulated, observation_end=D(2023, 12, 31))
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    result = forecast_clients(summary, bg, gg, horizon_days=365.25)
    assert len(result) == len(summary)
    assert result["p_alive"].between(0, 1).all()
    assert (result["expected_revenue"] >= 0).all()

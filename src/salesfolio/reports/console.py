"""The analysis summary printed by ``salesfolio analyze`` (Rich tables)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from salesfolio.services.analysis import AnalysisRun


def money(value: Any, currency: str) -> str:
    """Whole currency units with thousands separators, or an en dash when unknown.

    >>> money(1234567.891, "PLN"), money(None, "PLN")
    ('1,234,568 PLN', '–')
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{float(value):,.0f} {currency}"


def percent(value: Any) -> str:
    """A share as a percentage with one decimal, or an en dash.

    >>> percent(0.1234), percent(None)
    ('12.3 %', '–')
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{100 * float(value):.1f} %"


def forecast_sentence(report: dict[str, Any]) -> str:
    """One sentence on the forecast and how far its backtest says to trust it.

    >>> text = forecast_sentence({"status": "ok", "horizon_months": 24, "n_clients": 381, "backtest": {
    ...     "horizon_days": 364, "total_error_pct_purchases": 8.2, "total_error_pct_revenue": 5.3,
    ...     "correlation_purchases": 0.88}})
    >>> text.split("; ")[1]
    'backtest on the last 364 days: purchases +8.2 %, revenue +5.3 %, client-level correlation 0.88.'
    """
    if report.get("status") not in ("ok", "poor_fit"):
        return str(report.get("message") or report.get("status"))
    text = f"BG/NBD + Gamma-Gamma for {report.get('n_clients', 0):,} clients over {report.get('horizon_months')} months"
    if report.get("status") == "poor_fit":
        text += f" (poor fit: {report.get('message')})"
    bt = report.get("backtest") or {}
    if bt.get("total_error_pct_purchases") is not None:
        text += (
            f"; backtest on the last {bt.get('horizon_days')} days: "
            f"purchases {bt['total_error_pct_purchases']:+.1f} %, "
            f"revenue {bt.get('total_error_pct_revenue') or 0:+.1f} %, "
            f"client-level correlation {bt.get('correlation_purchases') or 0:.2f}"
        )
    elif bt.get("message"):
        text += f"; no backtest: {bt['message']}"
    return text + "."


def print_analysis_summary(console: Console, run: AnalysisRun, *, currency: str, top: int = 10) -> None:
    """Print KPIs, segments, top risks, top headroom, model verdicts and warnings."""
    result = run.result
    k = result.summary["kpis"]
    kpis = Table("KPI", "value", title=f"Portfolio as of {result.as_of} (snapshot {run.snapshot_id})")
    kpis.add_row("Clients (active in 12 months)", f"{k['clients']:,} ({k['active_clients']:,})")
    kpis.add_row("Revenue, last 12 months", money(k["revenue_ttm"], currency))
    kpis.add_row("Growth against the 12 months before", percent(k["growth"]))
    kpis.add_row("Gross margin, last 12 months", f"{money(k['margin_ttm'], currency)} ({percent(k['margin_pct'])})")
    kpis.add_row("Top-10 clients' share of revenue", percent(k["top10_share"]))
    kpis.add_row("Revenue at risk (expected loss)", money(k["revenue_at_risk"], currency))
    kpis.add_row("Unused potential (headroom)", money(k["unused_potential"], currency))
    if k.get("expected_revenue") is not None:
        kpis.add_row("Expected revenue, forecast horizon", money(k["expected_revenue"], currency))
    console.print(kpis)

    segs = Table("segment", "clients", "revenue", "margin", "headroom", title="Value x potential segments")
    for row in result.summary["segments"]:
        segs.add_row(
            str(row.get("segment")),
            f"{row.get('clients', 0):,}",
            money(row.get("revenue_ttm"), currency),
            money(row.get("margin_ttm"), currency),
            money(row.get("headroom"), currency),
        )
    console.print(segs)

    clients = result.clients
    risks = clients[clients["expected_loss"].fillna(0) > 0].nlargest(top, "expected_loss")
    risk_table = Table("client", "revenue 12 m", "expected loss", "risk", "signals", title="Top risks")
    for _, r in risks.iterrows():
        risk_table.add_row(
            str(r["name"]), money(r["revenue_ttm"], currency), money(r["expected_loss"], currency),
            str(r["risk_level"]), str(r.get("signals_summary") or ""),
        )  # fmt: skip
    console.print(risk_table)

    if clients["headroom"].notna().any():
        room = clients.nlargest(top, "headroom")
        room_table = Table("client", "revenue 12 m", "potential", "headroom", "segment", title="Top headroom")
        for _, r in room.iterrows():
            room_table.add_row(
                str(r["name"]), money(r["revenue_ttm"], currency), money(r["potential"], currency),
                money(r["headroom"], currency), str(r["segment"]),
            )  # fmt: skip
        console.print(room_table)

    churn = result.models.get("churn")
    if churn:
        console.print(f"[bold]Churn model[/]: {churn.get('verdict') or churn.get('message')}", highlight=False)
    forecast = result.models.get("forecast")
    if forecast:
        console.print(f"[bold]Purchase forecast[/]: {forecast_sentence(forecast)}", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)

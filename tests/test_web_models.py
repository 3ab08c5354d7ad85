"""The Models page, and forecasts and churn on the client page, the overview, the client list, exports and the API.

Model reports are written here in the shape ``analyse_portfolio`` stores (numbers taken from a demo run, cut to
two frequency bands); the expected texts are those numbers formatted by hand. Client figures come from
``web_fixtures.CLIENT_ROWS`` (expected revenue = 0.9 x revenue over 24 months, P(alive) 0.9) and from the segment
snapshot of ``test_web_segments`` (expected revenue and P(alive) per client in ``SEG_ROWS``).
"""

from __future__ import annotations

import copy
import html
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest

from salesfolio.store.models import Snapshot, SnapshotClient
from salesfolio.web.routes.models import rule_factor
from salesfolio.web.schemas import Signal
from test_web_segments import SEG_ROWS, add_segment_snapshot
from web_fixtures import HOSTILE_HTML, World, csrf_of, module_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from module_world(tmp_path_factory)


FORECAST: dict[str, Any] = {
    "status": "ok",
    "message": "",
    "horizon_months": 24,
    "beta_geo": {"r": 1.7282250231, "alpha": 59.8084453947, "a": 0.1832815869, "b": 39.3351223843},
    "gamma_gamma": {"p": 0.2423024368, "q": 2.9746057495, "gamma": 149596.0862835618},
    "n_clients": 388,
    "backtest": {
        "method": "BG/NBD + Gamma-Gamma (Fader, Hardie & Lee 2005), holdout backtest",
        "cutoff": "2024-09-30",
        "horizon_days": 365,
        "observation_end": "2025-09-30",
        "n_clients": 381,
        "totals": {
            "predicted_purchases": 3985.4614801,
            "actual_purchases": 3684.0,
            "predicted_revenue": 112561806.0968,
            "actual_revenue": 107311979.77,
            "net_revenue": 105868509.72,
        },
        "mae_purchases": 3.1717232493,
        "mae_revenue": 90605.8564387,
        "total_error_pct_purchases": 8.1829934892,
        "total_error_pct_revenue": 4.8921158085,
        "correlation_purchases": 0.8820564655,
        "correlation_revenue": 0.9590984066,
        "by_frequency": [
            {"frequency_band": band, "n_clients": n, "predicted_purchases": predicted, "actual_purchases": actual}
            for band, n, predicted, actual in (
                ("0", 9, 3.1654966661, 2.8888889),
                ("1", 7, 2.4045527918, 2.7142857),
                ("2", 13, 3.2669162987, 4.0),
                ("3", 19, 3.3045550893, 3.3684211),
                ("4", 9, 2.5390539148, 1.5555556),
                ("5", 16, 3.385117907, 3.75),
                ("6", 10, 3.861266923, 3.8),
                ("7+", 298, 12.480730339, 11.4463087),
            )
        ],
        "params_bg": {"r": 1.59, "alpha": 54.7, "a": 0.0099, "b": 3.75},
        "params_gg": {"p": 0.347, "q": 3.1, "gamma": 120000.0},
        "converged": True,
        "fit_messages": {},
    },
}


def _scores(aucs: tuple[float, ...], precisions: tuple[float, ...], shares: tuple[float, ...]) -> dict[str, Any]:
    """Metrics of model, recency, signals and size, in that order."""
    names = ("model", "recency", "signals", "size")
    return {
        name: {"auc": auc, "auc_churn": auc, "precision_at_k": precision, "lost_revenue_share": share}
        for name, auc, precision, share in zip(names, aucs, precisions, shares, strict=True)
    }


def _bins(*bins: tuple[int, float | None, float | None]) -> list[dict[str, Any]]:
    """Reliability bins 0-10 %, 10-20 %, ...: (clients, mean predicted, observed rate)."""
    return [
        {"lower": i / 10, "upper": (i + 1) / 10, "n": n, "mean_predicted": mean, "observed_rate": rate}
        for i, (n, mean, rate) in enumerate(bins)
    ]


def _cutoff(
    day: str, k: int, scores: dict[str, Any], reliability: list[dict[str, Any]], recency_win: bool, size_win: bool
) -> dict[str, Any]:
    return {
        "cutoff": day,
        "training_cutoffs": ["2024-03-31"],
        "n_train": 725,
        "n_train_positive": 166,
        "n_clients": 354,
        "n_positive": 76,
        "n_churned": 32,
        "n_declined": 65,
        "k": k,
        "lost_revenue_total": 11659081.12,
        "scores": scores,
        "brier": 0.1659447,
        "brier_reference": 0.1688016,
        "reliability": reliability,
        "calibration": "sigmoid",
        "features": ["recency_days", "revenue_ttm"],
        "model_beats_recency": recency_win,
        "model_beats_size": size_win,
    }


CHURN_NOT_SHOWN: dict[str, Any] = {
    "status": "ok",
    "message": "evaluated at 2 cut-off(s): 2025-03-31, 2024-09-30",
    "verdict": "The model beats recency on AUC at 1 of 2 and size on lost revenue at 0 of 2 evaluated cut-offs.",
    "recommendation": "show size-ranked revenue at risk instead; the model does not beat the baselines on this data",
    "as_of": "2025-09-30",
    "config": {"horizon_months": 6, "top_share": 0.1, "min_auc_gain": 0.02, "min_lost_share_gain": 0.02},
    "cutoffs": [
        _cutoff(
            "2025-03-31",
            35,
            _scores(
                (0.5974, 0.6323, 0.5221, 0.3594), (0.4286, 0.4381, 0.3688, 0.0857), (0.5376, 0.0047, 0.0299, 0.5582)
            ),
            _bins(
                (81, 0.0727, 0.2099),
                (118, 0.1466, 0.1441),
                (85, 0.2440, 0.1765),
                (35, 0.3375, 0.3429),
                (17, 0.4471, 0.3529),
                (12, 0.5540, 0.5),
                (6, 0.6541, 0.5),
                (0, None, None),
            ),
            False,
            False,
        ),
        _cutoff(
            "2024-09-30",
            36,
            _scores(
                (0.7669, 0.6185, 0.5156, 0.2880), (0.4444, 0.4167, 0.3486, 0.1111), (0.6187, 0.0037, 0.0178, 0.6179)
            ),
            _bins(
                (84, 0.0720, 0.0476),
                (82, 0.1475, 0.0610),
                (71, 0.2524, 0.2113),
                (71, 0.3471, 0.3099),
                (34, 0.4414, 0.5294),
                (17, 0.5358, 0.4118),
                (0, None, None),
            ),
            True,
            False,
        ),
    ],
    "skipped": [["2024-03-31", "too few clients at the cut-off: 150, at least 200 are needed"]],
    "warnings": [],
    "show_model": False,
}
CHURN_SHOWN: dict[str, Any] = {
    **copy.deepcopy(CHURN_NOT_SHOWN),
    "verdict": "The model beats recency on AUC and size on lost revenue on 2 cut-offs.",
    "recommendation": "show the model",
    "show_model": True,
    "skipped": [],
}
for _c in CHURN_SHOWN["cutoffs"]:
    _c["model_beats_recency"] = _c["model_beats_size"] = True
CHURN_UNTESTED: dict[str, Any] = {
    "status": "insufficient_data",
    "message": "too few clients at the cut-off: 40, at least 200 are needed",
    "verdict": "",
    "recommendation": "show size-ranked revenue at risk instead; the model does not beat the baselines on this data",
    "config": {"horizon_months": 6},
    "cutoffs": [],
    "skipped": [],
    "show_model": False,
}


@pytest.fixture(scope="module")
def snapshots(world: World) -> dict[str, int]:
    """Segment snapshots with each kind of model report; in ``shown``, SG1 has a churn probability and reasons."""
    ids = {
        "not_shown": add_segment_snapshot(world, models={"forecast": FORECAST, "churn": CHURN_NOT_SHOWN}),
        "shown": add_segment_snapshot(world, models={"forecast": FORECAST, "churn": CHURN_SHOWN}),
        "untested": add_segment_snapshot(
            world, models={"forecast": {"status": "insufficient_data", "message": "x"}, "churn": CHURN_UNTESTED}
        ),
    }
    with world.workspace.sessions.begin() as db:
        row = db.get(SnapshotClient, (ids["shown"], "SG1"))
        assert row is not None
        row.churn_probability = 0.42
        row.details = {
            **row.details,
            "churn_reasons": [
                {"rank": 1, "feature": "recency_days", "contribution": 0.12, "direction": "raises",
                 "sentence": "Days since the last purchase: 95 against a typical 30 raises the risk"},
                {"rank": 2, "feature": "growth", "contribution": -0.03, "direction": "lowers",
                 "sentence": "Revenue growth: +12% lowers the risk"},
            ],
        }  # fmt: skip
    return ids


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</(?:div|td|p|h1|ul)>', page, re.S)
    assert match, element_id
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def figure(page: str, element_id: str) -> dict[str, Any]:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*data-figure="([^"]*)"', page)
    assert match, element_id
    return json.loads(html.unescape(match.group(1)))


def table_rows(page: str, table_id: str) -> list[list[str]]:
    body = page.split(f'id="{table_id}"')[1].split("</table>")[0].split("<tbody>")[1]
    cells = (re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S))
    return [[html.unescape(re.sub(r"<[^>]+>|[ \t\r\n]+", " ", c)).strip() for c in row] for row in cells]


def body_of(page: str) -> str:
    """The page's content (between the header bar and the footer): what differs by data, not by user."""
    return page.split('<div class="page-wrapper">')[1].split("<footer")[0]


# -- the Models page ------------------------------------------------------------------------------------------------
def test_models_page_forecast(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("board").get(f"/models?snapshot={snapshots['not_shown']}").text
    params = dict(r for r in table_rows(page, "forecast-params"))
    assert params == {
        "BG/NBD r": "1.728",
        "BG/NBD α": "59.808",
        "BG/NBD a": "0.183",
        "BG/NBD b": "39.335",
        "Gamma-Gamma p": "0.242",
        "Gamma-Gamma q": "2.975",
        "Gamma-Gamma γ": "149,596.086",
        "Clients in the fit": "388",
    }
    assert table_rows(page, "forecast-backtest") == [
        ["Purchases", "3,985", "3,684", "+8.2%", "3.17", "0.88"],
        ["Revenue", "PLN112,561,806", "PLN107,311,980", "+4.9%", "PLN90,606", "0.96"],
    ]
    assert (
        "Fitted on the purchases up to Sep 30, 2024 and compared with what 381 clients bought from then to "
        "Sep 30, 2025." in html.unescape(page)
    )
    freq = figure(page, "frequency-chart")
    assert [t["name"] for t in freq["data"]] == ["Predicted", "Actual"]
    assert freq["data"][0]["x"] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert (freq["data"][0]["y"][-1], freq["data"][1]["y"][-1]) == (12.480730339, 11.4463087)
    assert freq["data"][1]["hovertext"][-1] == "Actual: 11.45<br>298 clients"


def test_models_page_churn_not_shown(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("maria").get(f"/models?snapshot={snapshots['not_shown']}").text
    verdict = page.split('id="churn-verdict"')[1].split("</div>")[0]
    assert [html.unescape(re.sub(r"<[^>]+>", "", p)).strip() for p in re.findall(r"<p[^>]*>(.*?)</p>", verdict)] == [
        "The churn model is not shown. It beat recency at 1 and size at 0 of 2 cut-offs; it must beat both at every "
        "cut-off to be trusted.",
        "At Mar 31, 2025: AUC 0.60 against 0.63 for recency; the model's top 35 clients held 53.8% of the revenue "
        "lost in the next 6 months, the 35 largest clients 55.8%.",
        "At Sep 30, 2024: AUC 0.77 against 0.62 for recency; the model's top 36 clients held 61.9% of the revenue "
        "lost in the next 6 months, the 36 largest clients 61.8%.",
    ]
    fallback = html.unescape(page.split('id="churn-fallback"')[1].split("</div>")[0])
    assert "Revenue at risk is ranked by size × a rule-based factor" in fallback
    assert "At 2 of 2 cut-offs the largest clients alone held as much of the lost revenue" in fallback
    assert "At 1 of 2 cut-offs the days since the last purchase ranked" in fallback
    auc = figure(page, "churn-auc-chart")
    assert [t["name"] for t in auc["data"]] == ["Churn model", "Recency", "Warning signals", "Size"]
    assert auc["data"][0]["x"] == ["Mar 31, 2025", "Sep 30, 2024"] and auc["data"][0]["y"] == [0.5974, 0.7669]
    assert auc["layout"]["shapes"][0]["y0"] == 0.5  # a coin toss
    lost = figure(page, "churn-lost_revenue_share-chart")
    assert lost["data"][3]["y"] == [0.5582, 0.6179] and lost["layout"]["yaxis"]["tickformat"] == ".0%"
    reliability = figure(page, "reliability-chart")
    assert [t["name"] for t in reliability["data"]] == ["Perfect calibration", "Mar 31, 2025", "Sep 30, 2024"]
    assert reliability["data"][1]["x"] == [0.0727, 0.1466, 0.2440, 0.3375, 0.4471, 0.5540, 0.6541]  # not the empty bin
    assert table_rows(page, "churn-cutoffs")[0] == [
        "Mar 31, 2025", "354", "76", "0.60", "0.63", "0.52", "0.36", "0.166", "0.169"
    ]  # fmt: skip
    assert "too few clients at the cut-off: 150, at least 200 are needed" in page


def test_models_page_churn_shown_and_untested(world: World, snapshots: dict[str, int]) -> None:
    http = world.login("board")
    shown = http.get(f"/models?snapshot={snapshots['shown']}").text
    assert "alert-success" in shown.split('id="churn-verdict"')[0][-200:]
    assert (
        "The churn model ranked clients better than recency and size at all 2 cut-offs tested: its probabilities are "
        "used for revenue at risk and shown on the client pages." in html.unescape(shown)
    )
    assert 'id="churn-fallback"' not in shown
    untested = http.get(f"/models?snapshot={snapshots['untested']}").text
    assert "The churn model could not be tested on this data, so it is not used." in untested
    assert "There is not enough history to train and test a churn model" in untested
    assert "too few clients at the cut-off: 40, at least 200 are needed" in untested  # the analysis's own reason
    assert "No forecast in this snapshot: there is not enough purchase history" in untested
    assert 'id="churn-auc-chart"' not in untested
    empty = http.get(f"/models?snapshot={world.snapshot_id}").text  # a snapshot without model reports
    assert "This snapshot has no forecast report." in empty and "This snapshot has no churn report." in empty


def test_models_page_names_no_client_and_is_the_same_for_every_role(world: World, snapshots: dict[str, int]) -> None:
    pages = {
        user: world.login(user).get(f"/models?snapshot={snapshots['not_shown']}").text
        for user in ("admin", "board", "maria", "anna", "bartek")
    }
    for page in pages.values():
        for row in SEG_ROWS:
            assert row[0] not in page and html.escape(row[1]) not in page and row[1] not in page
    assert len({body_of(page) for page in pages.values()}) == 1


def test_models_page_in_polish(world: World, snapshots: dict[str, int]) -> None:
    http = world.login("anna")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    try:
        page = http.get(f"/models?snapshot={snapshots['not_shown']}").text
        assert "Prognoza zakupów" in page and "Model odejść" in page
        assert table_rows(page, "forecast-backtest")[0][3:] == ["+8,2%", "3,17", "0,88"]
        assert table_rows(page, "forecast-backtest")[1][1] == "112\u00a0561\u00a0806\u00a0zł"
        assert (
            "Model odejść nie jest pokazywany. Pokonał świeżość zakupu w 1, a wielkość w 0 z 2 punktów odcięcia"
            in html.unescape(page)
        )
        assert "31 mar 2025: AUC 0,60 wobec 0,63 dla świeżości zakupu" in html.unescape(page)
        assert figure(page, "churn-auc-chart")["data"][0]["name"] == "Model odejść"
    finally:
        http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


# -- the client page ------------------------------------------------------------------------------------------------
def test_client_forecast_card(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("anna").get(f"/clients/C001?snapshot={world.snapshot_id}").text
    # expected revenue 0.9 x 500 000 over 24 months: 225 000 a year, 275 000 (55 %) below the last 12 months
    assert text_of(page, "forecast-p-alive") == "90%"
    assert text_of(page, "forecast-purchases") == "10.0"
    assert text_of(page, "forecast-revenue") == "PLN450,000"
    assert text_of(page, "forecast-per-year") == "PLN225,000"
    assert text_of(page, "forecast-growth") == "-PLN275,000 (-55.0%)"
    assert 'id="forecast-one-time"' not in page
    seg = world.login("anna").get(f"/clients/SG1?snapshot={snapshots['not_shown']}").text
    assert text_of(seg, "forecast-growth") == "+PLN100,000 (+25.0%)"  # 1 000 000 / 2 against 400 000
    assert text_of(seg, "forecast-purchases") == "6.5"  # from the features, as the analysis stores it
    one_time = world.login("anna").get(f"/clients/SG3?snapshot={snapshots['not_shown']}").text
    assert "One purchase so far" in text_of(one_time, "forecast-one-time")
    none = world.login("anna").get(f"/clients/SG4?snapshot={snapshots['not_shown']}").text
    assert "No forecast for this client" in none.split('id="forecast"')[1].split('id="churn"')[0]


def test_client_churn_card_rule_based(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("anna").get(f"/clients/C002?snapshot={world.snapshot_id}").text
    # falling revenue and inactivity: 1 - (1 - 0.10) x (1 - 0.20) x (1 - 0.30) = 0.496
    assert text_of(page, "churn-factor") == "50% of revenue at risk"
    assert re.findall(r"<li>([^<]+)</li>", page.split('id="churn-signals"')[1].split("</ul>")[0]) == [
        "Falling revenue",
        "Inactivity",
    ]
    assert "There is not enough history to test a churn model" in text_of(page, "churn-note")
    assert f'<a href="/models?snapshot={world.snapshot_id}">See the Models page.</a>' in page
    tested = world.login("anna").get(f"/clients/SG2?snapshot={snapshots['not_shown']}").text
    assert "The churn model did not rank clients better than simple rules" in text_of(tested, "churn-note")
    assert text_of(tested, "churn-factor") == "10% of revenue at risk"  # no signal: the base factor
    assert 'id="churn-probability"' not in tested


def test_client_churn_card_model_shown(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("maria").get(f"/clients/SG1?snapshot={snapshots['shown']}").text
    assert text_of(page, "churn-probability") == "42%"
    reasons = re.findall(r"<li>([^<]+)</li>", page.split('id="churn-reasons"')[1].split("</ul>")[0])
    assert reasons == [
        "Days since the last purchase: 95 against a typical 30 raises the risk",
        "Revenue growth: +12% lowers the risk",
    ]
    assert "Why the churn model is concerned" not in page  # shown once, in the churn card
    assert 'id="churn-factor"' not in page


def test_rule_factor_follows_the_snapshot_configuration() -> None:
    inactive = [Signal(signal="inactivity"), Signal(signal="inactivity")]  # a signal counts once
    assert rule_factor(Snapshot(config={}), inactive) == pytest.approx(1 - 0.9 * 0.7)
    custom = Snapshot(config={"risk": {"base_factor": 0.2, "signal_factors": {"inactivity": 0.5}}})
    assert rule_factor(custom, inactive) == pytest.approx(1 - 0.8 * 0.5)
    broken = Snapshot(config={"risk": {"base_factor": 7}})  # out of range: the defaults
    assert rule_factor(broken, []) == pytest.approx(0.1)


# -- overview, client list, exports, API --------------------------------------------------------------------------
def test_overview_forecast_card_and_growers(world: World, snapshots: dict[str, int]) -> None:
    board = world.login("board").get(f"/?snapshot={world.snapshot_id}").text
    # 0.9 x 1 060 000 = 954 000 over 24 months: 477 000 a year, 55 % below the last 12 months
    assert text_of(board, "kpi-forecast") == "PLN954K"
    assert text_of(board, "kpi-forecast-note") == "PLN477K a year: -55.0% on the last 12 months"
    assert "No client in your part of the portfolio is expected to grow." in board
    seg = world.login("board").get(f"/?snapshot={snapshots['not_shown']}").text
    rows = table_rows(seg, "growers-table")
    assert [r[0].split()[-1] for r in rows] == ["SG1", "SG5", "SG2"]  # +100 000, +100 000 (ties by ID), +50 000
    assert rows[0][2:] == ["PLN400,000", "PLN500,000", "+PLN100,000", "95%"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in seg.split('id="growers-table"')[1]
    assert HOSTILE_HTML not in seg
    anna = world.login("anna").get(f"/?snapshot={snapshots['not_shown']}").text
    assert [r[0].split()[-1] for r in table_rows(anna, "growers-table")] == ["SG1", "SG2"]
    # anna: 1 000 000 + 300 000 + 60 000 = 1 360 000 expected over 24 months against 550 000 of revenue
    assert text_of(anna, "kpi-forecast") == "PLN1.4M"
    assert text_of(anna, "kpi-forecast-note") == "PLN680K a year: +23.6% on the last 12 months"


def test_overview_forecast_in_polish(world: World, snapshots: dict[str, int]) -> None:
    http = world.login("bartek")
    http.post("/language", data={"language": "pl", "next": "/", "csrf_token": csrf_of(http)})
    try:
        page = http.get(f"/?snapshot={snapshots['not_shown']}").text
        assert "Kto urośnie najbardziej" in page and "Oczekiwany przychód, 24 mies." in page
        assert table_rows(page, "growers-table")[0][4] == "+100\u00a0000\u00a0zł"
    finally:
        http.post("/language", data={"language": "en", "next": "/", "csrf_token": csrf_of(http)})


def list_ids(page: str) -> list[str]:
    return re.findall(r'<div class="small text-secondary">([^<·]+?)(?: ·|</div>)', page.split('id="clients"')[1])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=p_alive&order=asc", ["SG7", "SG2", "SG6", "SG3", "SG5", "SG1", "SG4"]),
        ("sort=expected_revenue", ["SG1", "SG5", "SG2", "SG3", "SG7", "SG4", "SG6"]),  # missing last, by ID
        ("sort=churn_probability", ["SG1", "SG2", "SG3", "SG4", "SG5", "SG6", "SG7"]),
    ],
)
def test_client_list_sorts_by_forecast_and_churn(
    world: World, snapshots: dict[str, int], query: str, expected: list[str]
) -> None:
    page = world.login("board").get(f"/clients?snapshot={snapshots['shown']}&{query}").text
    assert list_ids(page) == expected


def test_client_list_shows_forecast_and_churn_columns(world: World, snapshots: dict[str, int]) -> None:
    page = world.login("anna").get(f"/clients?snapshot={snapshots['shown']}&sort=p_alive").text
    head = page.split('id="clients"')[1].split("</thead>")[0]
    assert [re.sub(r"<[^>]+>|\s+|▼", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)][-3:] == [
        "Churnprobability",
        "P(alive)",
        "Expectedrevenue",
    ]
    first = page.split('id="clients"')[1].split("<tbody>")[1].split("</tr>")[0]
    cells = [
        html.unescape(re.sub(r"<[^>]+>|\s+", " ", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", first, re.S)
    ]
    assert cells[0].startswith("Alfa Seg") and cells[-3:] == ["42%", "95%", "PLN1,000,000"]
    # without the churn model the probability is empty for every client: no such column then
    other = world.login("anna").get(f"/clients?snapshot={snapshots['not_shown']}").text
    head = other.split('id="clients"')[1].split("</thead>")[0]
    assert "Churn probability" not in head and "P(alive)" in head
    row = other.split('id="clients"')[1].split("<tbody>")[1].split("</tr>")[0]
    assert len(re.findall(r"<td\b", row)) == len(re.findall(r"<th\b", head)) == 13


def test_exports_and_api_carry_the_forecast_columns(world: World, snapshots: dict[str, int]) -> None:
    http = world.login("anna")
    snap = snapshots["shown"]
    csv_text = http.get(f"/exports/clients.csv?snapshot={snap}&sort=p_alive&order=desc").content.decode("utf-8-sig")
    lines = csv_text.splitlines()
    assert lines[0].endswith("churn_probability,p_alive,expected_revenue")
    assert lines[1].startswith("SG1,") and lines[1].endswith(",0.42,0.95,1000000.0")
    assert [line.split(",")[0] for line in lines[1:]] == ["SG1", "SG3", "SG2", "SG4"]
    book = openpyxl.load_workbook(io.BytesIO(http.get(f"/exports/clients.xlsx?snapshot={snap}").content))
    sheet = book["Clients"]
    header = [c.value for c in sheet[1]]
    column = header.index("P(alive)") + 1
    assert header[-3:] == ["Churn probability", "P(alive)", "Expected revenue"]
    assert sheet.cell(2, column).value == 0.95 and sheet.cell(2, column).number_format == "0.0%"
    api = http.get(f"/api/clients?snapshot={snap}&sort=expected_revenue&order=asc").json()
    assert [c["client_id"] for c in api["items"]] == ["SG3", "SG2", "SG1", "SG4"]
    assert api["items"][0]["p_alive"] == 0.7 and api["items"][0]["expected_revenue"] == 60000.0
    detail = http.get(f"/api/clients/SG1?snapshot={snap}").json()
    assert detail["forecast"] == {"p_alive": 0.95, "expected_purchases": 6.5, "expected_revenue": 1000000.0}
    assert detail["churn_probability"] == 0.42
    assert http.get(f"/api/clients?snapshot={snap}&sort=p_alive_x").status_code == 422

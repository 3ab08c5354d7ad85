"""A small, fully known world for the web app's tests: a workspace, users of each role, two reps and a snapshot.

Two reps in two teams own the clients below; the snapshot rows are inserted directly (the numbers are chosen so
that the expected page values can be worked out by hand), and the warehouse gets a few invoice lines,
opportunities and an imported assessment for the client page.

Team North: rep ``anna`` (R1) with C001, C002 (hostile HTML name), C003 (hostile formula name), ``K/2024/7``
(a slash in the ID), C005 (``%`` and ``_`` in the name); manager ``maria`` leads it.
Team South: rep ``bartek`` (R2) with C101, C102.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from salesfolio.services import users
from salesfolio.services.analysis import store_aggregates
from salesfolio.services.users import create_user
from salesfolio.store.models import Snapshot, SnapshotClient
from salesfolio.web.app import create_app
from salesfolio.web.security import LoginThrottle
from salesfolio.workspace import Workspace

PASSWORD = "correct-horse-1"
AS_OF = dt.date(2025, 6, 30)
OLD_AS_OF = dt.date(2024, 12, 31)

USERS: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin", "full_name": "Ada Admin"},
    "board": {"role": "board", "full_name": "Bogdan Board"},
    "maria": {"role": "manager", "team": "North", "full_name": "Maria Manager"},
    "anna": {"role": "rep", "rep_id": "R1", "full_name": "Anna Nowak"},
    "bartek": {"role": "rep", "rep_id": "R2", "full_name": "Bartek Wiśniewski"},
}

HOSTILE_HTML = "<script>alert(1)</script>"
HOSTILE_FORMULA = '=HYPERLINK("http://evil.example","click")'


def _details(
    prior: float | None,
    margin_prior: float | None,
    *,
    signals: list[dict[str, Any]] | None = None,
    contributions: dict[str, float] | None = None,
    whitespace: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "features": {
            "revenue_prior_ttm": prior,
            "margin_prior_ttm": margin_prior,
            "orders_ttm": 12,
            "last_purchase": "2025-06-12",
            "margin_pct_ttm": 0.3,
        },
        "contributions": contributions or {},
        "signals": signals or [],
        "whitespace": whitespace or [],
        "forecast": {"p_alive": 0.9, "expected_purchases": 10.0, "expected_revenue": 450000.0},
        "churn_reasons": [
            {
                "rank": 1,
                "feature": "recency_days",
                "value": 40.0,
                "typical": 20.0,
                "contribution": 0.05,
                "direction": "raises",
                "sentence": "Days since the last purchase: 40 against a typical 20 raises the risk",
            }
        ],
    }


FALLING = {
    "signal": "falling_revenue",
    "value": -0.2,
    "threshold": 0.2,
    "message": "Revenue down 20% on the prior 12 months",
    "message_pl": "Przychód spadł o 20% względem poprzednich 12 miesięcy",
}
INACTIVE = {
    "signal": "inactivity",
    "value": 200.0,
    "threshold": 180.0,
    "message": "No purchase for 200 days",
    "message_pl": "Brak zakupu od 200 dni",
}

# client_id, name, owner, team, industry, region, revenue, margin, prior revenue, prior margin, potential, headroom,
# score, segment, abc, risk, expected loss, signals
CLIENT_ROWS: list[tuple[Any, ...]] = [
    (
        "C001",
        "Alfa Sp. z o.o.",
        "R1",
        "North",
        "Food",
        "Mazowsze",
        500000.0,
        150000.0,
        400000.0,
        100000.0,
        800000.0,
        300000.0,
        82.0,
        "strategic",
        "A",
        "low",
        50000.0,
        [],
    ),
    (
        "C002",
        HOSTILE_HTML,
        "R1",
        "North",
        "Retail",
        "Mazowsze",
        120000.0,
        30000.0,
        150000.0,
        45000.0,
        None,
        None,
        55.0,
        "development",
        "B",
        "high",
        48000.0,
        [FALLING, INACTIVE],
    ),
    (
        "C003",
        HOSTILE_FORMULA,
        "R1",
        "North",
        "Retail",
        "Pomorze",
        80000.0,
        None,
        80000.0,
        None,
        None,
        None,
        40.0,
        "operational",
        "C",
        "medium",
        20000.0,
        [INACTIVE],
    ),
    (
        "K/2024/7",
        "Kappa Slash",
        "R1",
        "North",
        "Food",
        "Pomorze",
        0.0,
        0.0,
        20000.0,
        5000.0,
        None,
        None,
        10.0,
        "operational",
        "C",
        "high",
        0.0,
        [INACTIVE],
    ),
    (
        "C005",
        "50%_off Hurt",
        "R1",
        "North",
        "Food",
        "Mazowsze",
        10000.0,
        2000.0,
        10000.0,
        2000.0,
        None,
        None,
        30.0,
        "operational",
        "C",
        "low",
        1000.0,
        [],
    ),
    (
        "C101",
        "Beta Logistics",
        "R2",
        "South",
        "Transport",
        "Śląsk",
        300000.0,
        60000.0,
        250000.0,
        50000.0,
        400000.0,
        100000.0,
        70.0,
        "maintain",
        "A",
        "medium",
        90000.0,
        [FALLING],
    ),
    (
        "C102",
        "Gamma Ltd",
        "R2",
        "South",
        "Transport",
        "Śląsk",
        50000.0,
        10000.0,
        50000.0,
        10000.0,
        None,
        None,
        35.0,
        "operational",
        "C",
        "low",
        5000.0,
        [],
    ),
]
OWN = {"R1": ["C001", "C002", "C003", "K/2024/7", "C005"], "R2": ["C101", "C102"]}


@dataclass
class World:
    """The built test world."""

    workspace: Workspace
    app: FastAPI
    snapshot_id: int
    old_snapshot_id: int

    def client(self) -> TestClient:
        """A fresh HTTP client (its own cookies)."""
        return TestClient(self.app, base_url="http://testserver", follow_redirects=False)

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A client logged in as ``username``; asserts the login worked."""
        http = self.client()
        http.get("/login")
        response = http.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(http), "next": "/"},
        )
        assert response.status_code == 303, response.text
        return http


def csrf_of(http: TestClient) -> str:
    """The CSRF token of the client's session: from ``GET /api/me`` when logged in, else from the login form."""
    me = http.get("/api/me")
    if me.status_code == 200:
        return str(me.json()["csrf_token"])
    return _token_from_html(http.get("/login").text)


def _token_from_html(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def _snapshot_rows(snapshot_id: int, scale: float) -> list[SnapshotClient]:
    rows = []
    for (
        cid,
        name,
        owner,
        team,
        industry,
        region,
        revenue,
        margin,
        prior,
        margin_prior,
        potential,
        headroom,
        score,
        segment,
        abc,
        risk,
        loss,
        signals,
    ) in CLIENT_ROWS:
        rows.append(
            SnapshotClient(
                snapshot_id=snapshot_id,
                client_id=cid,
                name=name,
                owner_id=owner,
                team=team,
                industry=industry,
                region=region,
                country="PL",
                revenue_ttm=revenue * scale,
                margin_ttm=None if margin is None else margin * scale,
                growth=None if not prior else revenue / prior - 1,
                potential=potential,
                headroom=headroom,
                score=score,
                band="good" if score >= 67 else ("average" if score >= 33 else "poor"),
                abc_revenue=abc,
                segment=segment,
                risk_level=risk,
                expected_loss=loss,
                n_signals=len(signals),
                churn_probability=0.1,
                p_alive=0.9,
                expected_revenue=revenue * 0.9,
                details=_details(
                    prior,
                    margin_prior,
                    signals=signals,
                    contributions={
                        "current_value": 30.0,
                        "margin": 20.0,
                        "growth_potential": 25.0,
                        "churn_risk": 7.0,
                    },
                    whitespace=[{"category": "Packaging", "expected_value": 12000.0, "peer_share": 0.6}],
                ),
            )
        )
    return rows


def _load_warehouse(ws: Workspace) -> None:
    with ws.warehouse() as wh:
        wh.upsert(
            "reps",
            pa.table(
                {
                    "rep_id": ["R1", "R2"],
                    "name": ["Anna Nowak", "Bartek Wiśniewski"],
                    "team": ["North", "South"],
                }
            ),
        )
        wh.upsert(
            "clients",
            pa.table(
                {
                    "client_id": [r[0] for r in CLIENT_ROWS],
                    "name": [r[1] for r in CLIENT_ROWS],
                    "owner_id": [r[2] for r in CLIENT_ROWS],
                }
            ),
        )
        wh.upsert(
            "invoice_lines",
            pa.table(
                {
                    "invoice_id": ["F1", "F2", "F3", "F4", "G1"],
                    "line_no": [1, 1, 2, 1, 1],
                    "client_id": ["C001", "C001", "C001", "C001", "C101"],
                    "date": [
                        dt.date(2025, 1, 15),
                        dt.date(2025, 3, 3),
                        dt.date(2025, 3, 3),
                        dt.date(2025, 7, 2),
                        dt.date(2025, 2, 1),
                    ],
                    "revenue": [1000.0, 2000.0, 500.0, 9999.0, 777.0],
                    "cost": [700.0, 1500.0, None, 1.0, 500.0],
                }
            ),
        )
        wh.upsert(
            "opportunities",
            pa.table(
                {
                    "opportunity_id": ["O1", "O2", "O3"],
                    "client_id": ["C001", "C001", "C101"],
                    "owner_id": ["R1", "R1", "R2"],
                    "stage": ["Proposal", "Won", "Proposal"],
                    "value": [40000.0, 10000.0, 70000.0],
                    "probability": [0.5, 1.0, 0.4],
                    "expected_close": [dt.date(2025, 9, 30), None, dt.date(2025, 8, 31)],
                    "closed": [None, dt.date(2025, 5, 1), None],
                    "won": [None, True, None],
                },
                schema=pa.schema(
                    [
                        ("opportunity_id", pa.string()),
                        ("client_id", pa.string()),
                        ("owner_id", pa.string()),
                        ("stage", pa.string()),
                        ("value", pa.float64()),
                        ("probability", pa.float64()),
                        ("expected_close", pa.date32()),
                        ("closed", pa.date32()),
                        ("won", pa.bool_()),
                    ]
                ),
            ),
        )
        wh.upsert(
            "assessments",
            pa.table(
                {
                    "client_id": ["C001"],
                    "period": [dt.date(2025, 1, 1)],
                    "potential": [750000.0],
                    "relationship": [4],
                    "strategic_fit": [5],
                    "entered_by": ["workshop"],
                }
            ),
        )


PROMOTED_FEATURES = ("revenue_prior_ttm", "margin_prior_ttm", "margin_pct_ttm", "cost_to_serve_ttm")
"""Features the analysis stores as columns of ``snapshot_clients`` too (besides ``details``)."""


def promote(db: Any, snapshot_id: int) -> None:
    """Fill the promoted columns from the JSON as the analysis does for a new snapshot."""
    for row in db.scalars(select(SnapshotClient).where(SnapshotClient.snapshot_id == snapshot_id)):
        features = (row.details or {}).get("features", {})
        for name in PROMOTED_FEATURES:
            setattr(row, name, features.get(name))
        row.value_score = (row.details or {}).get("value_score", features.get("value_score"))
        row.potential_score = (row.details or {}).get("potential_score", features.get("potential_score"))
        row.rfm_score = features.get("rfm_score")


def build_world(
    path: Path,
    *,
    language: str = "en",
    throttle: LoginThrottle | None = None,
    name: str = "Test & Co <b>",
    aggregates: bool = True,
) -> World:
    """Create the workspace in ``path`` with users, two snapshots and warehouse data; build the app.

    With ``aggregates`` (default) the snapshots are stored as the analysis stores them: promoted columns and
    per-owner totals (:func:`salesfolio.services.analysis.store_aggregates`), so the pages read the totals.
    """
    ws = Workspace.init(path / "ws", name=name, currency="PLN", language=language)
    with ws.sessions.begin() as db:
        for username, spec in USERS.items():
            create_user(db, username=username, password=PASSWORD, **spec)
        old = Snapshot(label="2024 H2", as_of=OLD_AS_OF, n_clients=len(CLIENT_ROWS))
        new = Snapshot(label="2025 H1", as_of=AS_OF, n_clients=len(CLIENT_ROWS), summary={"matrix_splits": {}})
        db.add_all([old, new])
        db.flush()
        db.add_all(_snapshot_rows(old.id, 0.5))
        db.add_all(_snapshot_rows(new.id, 1.0))
        old_id, new_id = old.id, new.id
        if aggregates:
            db.flush()
            for snapshot_id in (old_id, new_id):
                promote(db, snapshot_id)
                db.flush()
                store_aggregates(db, snapshot_id)
    _load_warehouse(ws)
    app = create_app(ws, throttle=throttle)
    return World(ws, app, new_id, old_id)


_CHEAP = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
_CHEAP_DUMMY = _CHEAP.hash("not-a-real-password")


@contextmanager
def cheap_passwords() -> Iterator[None]:
    """Argon2id with minimal cost while the block runs (the real parameters take about a second per hash here)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(users, "_hasher", lambda: _CHEAP)
        mp.setattr(users, "_dummy_hash", lambda: _CHEAP_DUMMY)
        yield


def module_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Body of each test module's ``world`` fixture: one world per module (read-only tests share it)."""
    with cheap_passwords():
        built = build_world(tmp_path_factory.mktemp("web"))
        yield built
        built.workspace.close()


def add_bulk_snapshot(world: World, n: int) -> int:
    """A third snapshot with ``n`` clients ``Z0001`` ... of rep R3 (team West), revenue ``i * 100``; its ID."""
    with world.workspace.sessions.begin() as db:
        snap = Snapshot(label="bulk", as_of=dt.date(2023, 12, 31), n_clients=n)
        db.add(snap)
        db.flush()
        db.add_all(
            SnapshotClient(
                snapshot_id=snap.id,
                client_id=f"Z{i:04d}",
                name=f"Bulk client {i:04d}",
                owner_id="R3",
                team="West",
                industry="Even" if i % 2 == 0 else "Odd",
                revenue_ttm=i * 100.0,
                score=float(i % 100),
                segment="operational",
                risk_level="low",
                details={},
            )
            for i in range(1, n + 1)
        )
        return int(snap.id)


SHOWCASE_WORDS = (
    "Agro",
    "Bałtyk",
    "Cerpol",
    "Delta",
    "Elmet",
    "Fabryka",
    "Grupa",
    "Hydro",
    "Inter",
    "Jantar",
    "Kolmar",
    "Lumen",
    "Metal",
    "Nord",
    "Omega",
    "Polimer",
    "Quattro",
    "Rolmex",
    "Stal",
    "Tekno",
    "Unimet",
    "Vistula",
    "Wawel",
    "Zenit",
)
SHOWCASE_FORMS = ("Sp. z o.o.", "S.A.", "sp.j.", "Sp. z o.o. Sp.k.", "Group", "Trading")


def add_showcase_snapshot(world: World, n: int, *, seed: int = 7, as_of: dt.date = dt.date(2025, 12, 31)) -> int:
    """A realistic-looking snapshot of ``n`` clients (the newest one), for screenshots and timing; its ID.

    Deterministic (``random.Random(seed)``): revenues log-normal, margins 8-40 %, potential for about 60 % of the
    clients, value and potential scores with the matrix segments they imply, risk from the signals. Clients
    ``S00001`` ... ``S{n}`` of reps R1, R2 and R4..R6 (teams North, South, East).
    """
    import math
    import random

    rng = random.Random(seed)
    owners = [("R1", "North"), ("R2", "South"), ("R4", "North"), ("R5", "East"), ("R6", "East")]
    industries = ["Food", "Retail", "Transport", "Construction", "Chemicals", "Automotive", "Energy"]
    regions = ["Mazowsze", "Śląsk", "Pomorze", "Małopolska", "Wielkopolska", "Dolny Śląsk"]
    rows = []
    for i in range(1, n + 1):
        revenue = round(math.exp(rng.gauss(11.6, 1.25)), -2)
        prior = round(revenue / math.exp(rng.gauss(0.03, 0.3)), -2)
        margin = round(revenue * rng.uniform(0.08, 0.40), -2) if rng.random() > 0.05 else None
        potential = round(revenue * rng.uniform(1.0, 3.5), -3) if rng.random() < 0.6 else None
        value_score = round(rng.uniform(0, 100), 1)
        potential_score = round(rng.uniform(0, 100), 1)
        segment = {
            (True, True): "strategic",
            (False, True): "development",
            (True, False): "maintain",
            (False, False): "operational",
        }[(value_score >= 50, potential_score >= 50)]
        signals = []
        if prior and revenue / prior < 0.8:
            drop = 1 - revenue / prior
            signals.append(
                {
                    **FALLING,
                    "value": -drop,
                    "message": f"Revenue down {drop:.0%} on the prior 12 months",
                    "message_pl": f"Przychód spadł o {drop:.0%} względem poprzednich 12 miesięcy",
                }
            )
        if rng.random() < 0.12:
            days = rng.randint(181, 400)
            signals.append(
                {
                    **INACTIVE,
                    "value": float(days),
                    "message": f"No purchase for {days} days",
                    "message_pl": f"Brak zakupu od {days} dni",
                }
            )
        factor = 0.1 + 0.2 * len(signals)
        risk = "high" if factor >= 0.45 else ("medium" if factor >= 0.25 else "low")
        owner, team = owners[(i - 1) % len(owners)]  # S00001 belongs to R1 (anna)
        name = f"{rng.choice(SHOWCASE_WORDS)}{rng.choice(SHOWCASE_WORDS).lower()} {rng.choice(SHOWCASE_FORMS)}"
        score = round(0.6 * value_score + 0.4 * potential_score, 1)
        rows.append(
            SnapshotClient(
                client_id=f"S{i:05d}",
                name=name,
                owner_id=owner,
                team=team,
                industry=rng.choice(industries),
                region=rng.choice(regions),
                country="PL",
                revenue_ttm=revenue,
                margin_ttm=margin,
                growth=revenue / prior - 1 if prior else None,
                potential=potential,
                headroom=None if potential is None else max(potential - revenue, 0.0),
                score=score,
                band="good" if score >= 67 else ("average" if score >= 33 else "poor"),
                segment=segment,
                risk_level=risk,
                expected_loss=round(revenue * factor, -2),
                n_signals=len(signals),
                churn_probability=round(min(0.95, factor + rng.uniform(-0.05, 0.1)), 3),
                p_alive=round(rng.uniform(0.5, 1.0), 3),
                expected_revenue=round(revenue * rng.uniform(0.8, 1.4), -2),
                details={
                    "value_score": value_score,
                    "potential_score": potential_score,
                    "features": {
                        "revenue_prior_ttm": prior,
                        "margin_prior_ttm": None if margin is None else round(prior * rng.uniform(0.08, 0.4), -2),
                        "margin_pct_ttm": None if margin is None else margin / revenue,
                        "orders_ttm": rng.randint(2, 60),
                        "avg_order_value": round(revenue / rng.randint(2, 60), -1),
                        "last_purchase": (as_of - dt.timedelta(days=rng.randint(1, 200))).isoformat(),
                        "median_gap_days": float(rng.randint(7, 90)),
                        "categories_ttm": rng.randint(1, 9),
                        "share_of_wallet": None if potential is None else revenue / potential,
                        "pipeline_weighted": round(revenue * rng.uniform(0, 0.3), -2),
                        "win_rate": round(rng.uniform(0.1, 0.7), 2),
                    },
                    "contributions": {
                        "current_value": round(value_score * 0.25, 1),
                        "margin": round(rng.uniform(0, 15), 1),
                        "growth_potential": round(potential_score * 0.2, 1),
                        "relationship": round(rng.uniform(0, 10), 1),
                        "churn_risk": round((1 - factor) * 10, 1),
                        "cross_sell": round(rng.uniform(0, 10), 1),
                    },
                    "signals": signals,
                    "whitespace": [
                        {
                            "category": c,
                            "expected_value": round(revenue * rng.uniform(0.05, 0.2), -2),
                            "peer_share": round(rng.uniform(0.3, 0.8), 2),
                        }
                        for c in rng.sample(["Packaging", "Spare parts", "Service", "Logistics", "Training"], 2)
                    ],
                    "forecast": {"p_alive": 0.9, "expected_purchases": 12.0, "expected_revenue": revenue * 1.1},
                    "churn_reasons": [],
                },
            )
        )
    # ABC on revenue (80 % / 95 % of the total) and, for the first client, figures that match its invoices below
    series = [round(8000 + 3000 * math.sin(m / 2) + 150 * m, 2) for m in range(24)]
    first = rows[0]
    first.revenue_ttm, first.margin_ttm = round(sum(series[12:]), 2), round(0.28 * sum(series[12:]), 2)
    first.details["features"]["revenue_prior_ttm"] = round(sum(series[:12]), 2)
    first.details["features"]["margin_prior_ttm"] = round(0.28 * sum(series[:12]), 2)
    first.details["features"]["margin_pct_ttm"] = 0.28
    first.growth = sum(series[12:]) / sum(series[:12]) - 1
    total = sum(r.revenue_ttm or 0.0 for r in rows)
    running = 0.0
    for row in sorted(rows, key=lambda r: -(r.revenue_ttm or 0.0)):
        running += row.revenue_ttm or 0.0
        row.abc_revenue = "A" if running <= 0.8 * total else ("B" if running <= 0.95 * total else "C")
    with world.workspace.sessions.begin() as db:
        snap = Snapshot(
            label="2025", as_of=as_of, n_clients=n, summary={"matrix_splits": {"value": 50.0, "potential": 50.0}}
        )
        db.add(snap)
        db.flush()
        for row in rows:
            row.snapshot_id = snap.id
        db.add_all(rows)
        snapshot_id = int(snap.id)
    # two years of monthly invoices for the first client, so its page shows a history
    days = [dt.date(2024 + (m // 12), m % 12 + 1, 15) for m in range(24)]
    with world.workspace.warehouse() as wh:
        wh.upsert(
            "invoice_lines",
            pa.table(
                {
                    "invoice_id": [f"S1-{d:%Y%m}" for d in days],
                    "line_no": [1] * len(days),
                    "client_id": ["S00001"] * len(days),
                    "date": days,
                    "revenue": series,
                    "cost": [round(v * 0.72, 2) for v in series],
                }
            ),
        )
    return snapshot_id

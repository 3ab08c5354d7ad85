"""Derived columns: what the importer fills in when a file lacks a canonical column but holds what it follows from.

Each rule applies only when the target column is absent from the file and its inputs are present; the import
report lists the rules applied to each file (:attr:`Derivations.notes`).

invoice_lines
    ``revenue = quantity x unit_price``; ``cost = revenue - profit`` (Superstore); ``cost = quantity x
    unit_cost``; ``client_id = client name`` and ``product_id = product name`` when there is no ID column;
    ``invoice_id = client_id + "-" + date`` (one invoice per client and day, as CDNOW); ``line_no`` numbered per
    invoice in file order (in the warehouse, after staging); product category ``"Category / Sub-Category"`` when
    both are given.
clients
    ``name = client_id`` or ``client_id = name``; ``size_class`` from the number of employees, EU bands
    (Commission Recommendation 2003/361/EC): micro < 10, small < 50, medium < 250, large >= 250.
reps, products
    ``name = rep_id`` / ``name = product_id`` (and the reverse); category as for invoice lines.
opportunities
    ``won`` from the stage name (:data:`WON_STAGES`, :data:`LOST_STAGES`; other stages open); with a
    ``Closed`` yes/no column, ``won`` only on closed deals; ``probability`` in percent (any value above 1 in the
    first batch) divided by 100; missing probabilities from the stage: won 1, lost 0, open stages from
    :data:`STAGE_PROBABILITIES` unless the mapping's ``stage_probabilities`` says otherwise; a ``Close Date``
    column becomes ``closed`` on closed deals and ``expected_close`` on open ones.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.contract import TABLES
from salesfolio.ingest.aliases import normalise_header

WON_STAGES = ("won", "closed won", "closedwon", "wygrana", "wygrane", "wygrany", "zamknięta wygrana", "sukces")
"""Stage names meaning won (compared case-, space- and accent-insensitively)."""

LOST_STAGES = (
    "lost",
    "closed lost",
    "closedlost",
    "przegrana",
    "przegrane",
    "przegrany",
    "zamknięta przegrana",
    "porażka",
    "utracona",
)
"""Stage names meaning lost."""

STAGE_PROBABILITIES: dict[str, float] = {
    # Salesforce's standard opportunity stages and their default probabilities
    "Prospecting": 0.10,
    "Qualification": 0.10,
    "Needs Analysis": 0.20,
    "Value Proposition": 0.50,
    "Id. Decision Makers": 0.60,
    "Perception Analysis": 0.70,
    "Proposal/Price Quote": 0.75,
    "Negotiation/Review": 0.90,
    # HubSpot's default sales pipeline (the internal names, e.g. "contractsent", fold to the same keys)
    "Appointment Scheduled": 0.20,
    "Qualified To Buy": 0.40,
    "Presentation Scheduled": 0.60,
    "Decision Maker Bought-In": 0.80,
    "Contract Sent": 0.90,
    # generic names and the Maven CRM set (salesfolio's own defaults)
    "Lead": 0.05,
    "New": 0.10,
    "Prospect": 0.10,
    "Engaging": 0.30,
    "Discovery": 0.20,
    "Qualified": 0.20,
    "Proposal": 0.50,
    "Quote": 0.50,
    "Negotiation": 0.75,
    "Commit": 0.90,
    # Polish CRM stages (salesfolio's own defaults)
    "Nowa": 0.10,
    "Kwalifikacja": 0.20,
    "Analiza potrzeb": 0.30,
    "Oferta": 0.50,
    "Negocjacje": 0.75,
    "Umowa": 0.90,
}
"""Default win probability of open stages, by stage name (compared like :data:`WON_STAGES`)."""

SIZE_BANDS = ((10, "micro"), (50, "small"), (250, "medium"))


def _stage_keys(stages: pa.Array) -> pa.Array:
    """Stage names folded for comparison (accents, case, spaces and punctuation ignored)."""
    unique = pc.unique(stages).drop_null()
    folded = pa.array([normalise_header(s) for s in unique.to_pylist()], pa.string())
    return pc.take(folded, pc.index_in(stages, value_set=unique))


def won_from_stage(stages: pa.Array) -> pa.Array:
    """True for won stages, false for lost ones, null for open ones."""
    keys = _stage_keys(stages)
    won = pc.fill_null(pc.is_in(keys, pa.array([normalise_header(s) for s in WON_STAGES])), False)
    lost = pc.fill_null(pc.is_in(keys, pa.array([normalise_header(s) for s in LOST_STAGES])), False)
    return pc.if_else(won, True, pc.if_else(lost, False, pa.scalar(None, pa.bool_())))


def stage_probability(stages: pa.Array, won: pa.Array, overrides: Mapping[str, float]) -> pa.Array:
    """Win probability from the stage: 1 when won, 0 when lost, else the stage table (``overrides`` first)."""
    table = {normalise_header(k): v for k, v in {**STAGE_PROBABILITIES, **overrides}.items()}
    keys = _stage_keys(stages)
    names = pa.array(list(table), pa.string())
    values = pa.array(list(table.values()), pa.float64())
    by_stage = pc.take(values, pc.index_in(keys, value_set=names))
    outcome = pc.if_else(won, 1.0, 0.0)
    return pc.if_else(pc.is_valid(won), outcome, by_stage)


def size_class(employees: pa.Array) -> pa.Array:
    """EU size band (micro, small, medium, large) from a head count."""
    numbers = np.asarray(pc.fill_null(employees, -1).to_numpy(zero_copy_only=False), dtype=float)
    labels = np.full(len(numbers), "large", dtype=object)
    for limit, label in reversed(SIZE_BANDS):
        labels[numbers < limit] = label
    return pa.array(labels.tolist(), pa.string(), mask=np.asarray(pc.is_null(employees).to_numpy(zero_copy_only=False)))


def _join(*parts: pa.Array, sep: str) -> pa.Array:
    return pc.binary_join_element_wise(*[pc.cast(p, pa.string()) for p in parts], sep)


class Derivations:
    """The derivation rules that apply to one file, fixed from its mapped columns (see the module docstring).

    Parameters
    ----------
    table
        The canonical table.
    present
        The targets the file maps (contract columns and source attributes).
    stage_probabilities
        The mapping's overrides of :data:`STAGE_PROBABILITIES`.
    """

    def __init__(self, table: str, present: set[str], stage_probabilities: Mapping[str, float]) -> None:
        self.table = table
        self.present = set(present)
        self.overrides = dict(stage_probabilities)
        self.percent: bool | None = None
        self.notes: list[str] = []
        self.provides: set[str] = set()
        self._plan()

    def _rule(self, target: str, needs: tuple[str, ...], note: str) -> bool:
        if target in self.present or target in self.provides or not all(self._has(n) for n in needs):
            return False
        self.provides.add(target)
        self.notes.append(note)
        return True

    def _has(self, name: str) -> bool:
        return name in self.present or name in self.provides

    def _plan(self) -> None:
        t = self.table
        if t == "invoice_lines":
            self._rule("client_id", ("client_name",), "client_id = client name (the file has no client ID)")
            self._rule("product_id", ("product_name",), "product_id = product name (the file has no product ID)")
            self._rule("revenue", ("quantity", "unit_price"), "revenue = quantity x unit price")
            if not self._rule("cost", ("revenue", "profit"), "cost = revenue - profit"):
                self._rule("cost", ("quantity", "unit_cost"), "cost = quantity x unit cost")
            self._rule("invoice_id", ("client_id", "date"), 'invoice_id = client_id + "-" + date')
            if "line_no" not in self.present:
                self.notes.append("line_no numbered per invoice in file order")
            if self._has("product_subcategory"):
                self.notes.append('product category = "category / sub-category"')
        elif t in ("clients", "reps", "products"):
            key = TABLES[t].key[0]
            self._rule("name", (key,), f"name = {key}")
            self._rule(key, ("name",), f"{key} = name")
            if t == "clients":
                self._rule("size_class", ("employees",), "size_class from employees (EU bands)")
            if t == "products" and self._has("subcategory"):
                self.notes.append('category = "category / sub-category"')
        elif t == "opportunities":
            if self._has("stage"):
                if self._has("is_closed") and self._has("won"):
                    self.notes.append("won only on closed deals (the Closed column)")
                self._rule("won", ("stage",), "won from the stage name")
                if "probability" in self.present:
                    self.notes.append("missing probability from the stage")
                else:
                    self._rule("probability", ("stage",), "probability from the stage")
            self._rule("closed", ("close_date", "won"), "closed = close date of closed deals")
            self._rule("expected_close", ("close_date", "won"), "expected_close = close date of open deals")

    def apply(self, cols: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """Fill the derived columns of one batch (``cols`` maps targets to typed arrays; changed in place)."""
        t = self.table
        if t == "invoice_lines":
            self._invoice_lines(cols)
        elif t in ("clients", "reps", "products"):
            key = TABLES[t].key[0]
            if "name" in self.provides:
                cols["name"] = cols[key]
            if key in self.provides:
                cols[key] = cols["name"]
            if "size_class" in self.provides:
                cols["size_class"] = size_class(cols["employees"])
            if t == "products" and "subcategory" in cols:
                cols["category"] = category_path(cols.get("category"), cols["subcategory"])
        elif t == "opportunities":
            self._opportunities(cols)
        return cols

    def _invoice_lines(self, cols: dict[str, pa.Array]) -> None:
        p = self.provides
        if "client_id" in p:
            cols["client_id"] = cols["client_name"]
        if "product_id" in p:
            cols["product_id"] = cols["product_name"]
        if "revenue" in p:
            cols["revenue"] = pc.multiply(cols["quantity"], cols["unit_price"])
        if "cost" in p and "profit" in cols:
            cols["cost"] = pc.subtract(cols["revenue"], cols["profit"])
        elif "cost" in p:
            cols["cost"] = pc.multiply(cols["quantity"], cols["unit_cost"])
        if "invoice_id" in p:
            cols["invoice_id"] = _join(cols["client_id"], cols["date"], sep="-")
        if "product_subcategory" in cols:
            cols["product_category"] = category_path(cols.get("product_category"), cols["product_subcategory"])

    def _opportunities(self, cols: dict[str, pa.Array]) -> None:
        p = self.provides
        if "won" in p:
            cols["won"] = won_from_stage(cols["stage"])
        if "is_closed" in cols and "won" in cols:
            cols["won"] = pc.if_else(pc.fill_null(cols["is_closed"], False), cols["won"], pa.scalar(None, pa.bool_()))
        if "probability" in cols:
            probability = cols["probability"]
            if self.percent is None and pc.count(probability).as_py():
                self.percent = bool((pc.max(probability).as_py() or 0) > 1)
                if self.percent:
                    self.notes.append("probability given in percent: divided by 100")
            if self.percent:
                probability = pc.divide(probability, 100.0)
            if "stage" in cols and "won" in cols:
                probability = pc.coalesce(probability, stage_probability(cols["stage"], cols["won"], self.overrides))
            cols["probability"] = probability
        elif "probability" in p:
            cols["probability"] = stage_probability(cols["stage"], cols["won"], self.overrides)
        if "closed" in p:
            cols["closed"] = pc.if_else(pc.is_valid(cols["won"]), cols["close_date"], pa.scalar(None, pa.date32()))
        if "expected_close" in p:
            cols["expected_close"] = pc.if_else(
                pc.is_null(cols["won"]), cols["close_date"], pa.scalar(None, pa.date32())
            )


def category_path(category: pa.Array | None, subcategory: pa.Array) -> pa.Array:
    """``"Category / Sub-Category"`` where both are given, else whichever is."""
    if category is None:
        return subcategory
    joined = pc.binary_join_element_wise(category, subcategory, " / ")
    return pc.coalesce(joined, subcategory, category)

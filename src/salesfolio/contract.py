"""The canonical data contract: every table salesfolio reads, defined once.

Every importer writes these tables and every analysis reads them. Nothing else in the code base declares a
canonical column name: it refers to :data:`TABLES` (or the per-table constants below) instead.

Types are deliberately few:

``string``
    IDs and labels. IDs are always strings, even when the source holds numbers (``"17850"``, not ``17850.0``).
``date``
    A calendar date (a timestamp in the source is cut to its date).
``float``
    Money, quantities, hours, probabilities. One currency per workspace (``salesfolio.toml``).
``int``
    Whole-number scores (relationship and strategic fit, 1 to 5).
``bool``
    Flags such as ``won``.

>>> INVOICE_LINES.key
('invoice_id', 'line_no')
>>> [c.name for c in CLIENTS.required_columns]
['client_id', 'name']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

ColumnType = Literal["string", "date", "float", "int", "bool"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date": pa.date32(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Parameters
    ----------
    name
        The canonical name, snake_case.
    type
        One of ``string``, ``date``, ``float``, ``int``, ``bool``.
    required
        A file for this table must provide it (directly, through a mapping or by derivation).
    description
        What the column means, in words a sales director understands.
    minimum, maximum
        Inclusive bounds checked on import, where they make sense (probability 0..1, scores 1..5).
    """

    name: str
    type: ColumnType
    required: bool = False
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the column is stored as."""
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class ForeignKey:
    """A column whose values must exist as keys of another table (checked when that table has data)."""

    column: str
    table: str
    target: str


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, its key (for upserts and duplicate checks) and its references."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[ForeignKey, ...] = field(default=())

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``; raise ``KeyError`` naming the table if there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[Column]:
        """Columns every file for this table must provide."""
        return [c for c in self.columns if c.required]

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema a loaded table has (every contract column, in contract order)."""
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in self.columns])


def _c(
    name: str,
    type_: ColumnType,
    description: str,
    *,
    required: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Column:
    return Column(name, type_, required, description, minimum, maximum)


CLIENTS = Table(
    "clients",
    "Client companies (accounts) and who owns them.",
    (
        _c("client_id", "string", "The client's ID in the ERP or CRM.", required=True),
        _c("name", "string", "Company name.", required=True),
        _c("industry", "string", "Industry or sector."),
        _c("size_class", "string", "Size band, e.g. small / medium / large or by headcount."),
        _c("region", "string", "Sales region or territory."),
        _c("country", "string", "Country."),
        _c("owner_id", "string", "The rep who owns the account (reps.rep_id)."),
        _c("contract_type", "string", "Framework agreement, spot, distributor, ..."),
        _c("status", "string", "Active, prospect, inactive, ..."),
        _c("since", "date", "Client since."),
        _c("parent_id", "string", "Parent account, for roll-ups over groups of companies."),
    ),
    key=("client_id",),
    references=(ForeignKey("owner_id", "reps", "rep_id"), ForeignKey("parent_id", "clients", "client_id")),
)

REPS = Table(
    "reps",
    "Sales representatives and their capacity.",
    (
        _c("rep_id", "string", "The rep's ID.", required=True),
        _c("name", "string", "Full name."),
        _c("team", "string", "Team or regional office."),
        _c("manager_id", "string", "The rep's manager (a rep_id or a name)."),
        _c("capacity_hours", "float", "Selling hours available per quarter.", minimum=0),
    ),
    key=("rep_id",),
)

PRODUCTS = Table(
    "products",
    "Products and their categories.",
    (
        _c("product_id", "string", "Product or stock code.", required=True),
        _c("name", "string", "Product name."),
        _c("category", "string", "Product category (used for breadth, lost categories and whitespace)."),
    ),
    key=("product_id",),
)

INVOICE_LINES = Table(
    "invoice_lines",
    "Invoice lines from the ERP: the source of revenue and margin. Negative lines are returns and credit notes.",
    (
        _c("invoice_id", "string", "Invoice (or order) number.", required=True),
        _c(
            "line_no",
            "int",
            "Position on the invoice; numbered in file order on import when the source has none.",
        ),
        _c("client_id", "string", "The invoiced client.", required=True),
        _c("date", "date", "Invoice date.", required=True),
        _c("product_id", "string", "Product sold; empty for lines without a product."),
        _c("quantity", "float", "Quantity; negative on returns."),
        _c(
            "revenue",
            "float",
            "Net revenue of the line; derived as quantity x unit price when absent.",
            required=True,
        ),
        _c("cost", "float", "Cost of goods of the line; may be missing (margin criteria then drop out)."),
        _c("rep_id", "string", "Salesperson on the line, as ERPs record it."),
    ),
    key=("invoice_id", "line_no"),
    references=(
        ForeignKey("client_id", "clients", "client_id"),
        ForeignKey("product_id", "products", "product_id"),
    ),
)

COST_TO_SERVE = Table(
    "cost_to_serve",
    "Costs of serving a client beyond cost of goods: logistics, service, discounts, payment terms.",
    (
        _c("client_id", "string", "The client.", required=True),
        _c("period", "date", "First day of the period the cost belongs to.", required=True),
        _c("kind", "string", "Kind of cost: logistics, service, discounts, payment_terms, ..."),
        _c("amount", "float", "Cost in the workspace currency.", required=True),
    ),
    key=("client_id", "period", "kind"),
    references=(ForeignKey("client_id", "clients", "client_id"),),
)

OPPORTUNITIES = Table(
    "opportunities",
    "CRM opportunities (the pipeline), open and closed.",
    (
        _c("opportunity_id", "string", "Opportunity ID.", required=True),
        _c("client_id", "string", "The client; empty for a prospect not yet in the client list."),
        _c("owner_id", "string", "Rep who owns the deal."),
        _c("stage", "string", "Stage name as in the CRM.", required=True),
        _c("value", "float", "Deal value.", minimum=0),
        _c(
            "probability",
            "float",
            "Win probability, 0 to 1 (percentages are converted on import).",
            minimum=0,
            maximum=1,
        ),
        _c("created", "date", "Created or engaged on."),
        _c("expected_close", "date", "Expected close date for open deals."),
        _c("closed", "date", "Close date; empty while open."),
        _c("won", "bool", "True when won, false when lost, empty while open."),
        _c("lost_reason", "string", "Why it was lost."),
        _c("product_id", "string", "Main product of the deal, where the CRM records one."),
    ),
    key=("opportunity_id",),
    references=(ForeignKey("client_id", "clients", "client_id"),),
)

ASSESSMENTS = Table(
    "assessments",
    "The team's judgement of a client for a period: potential, relationship, strategic fit.",
    (
        _c("client_id", "string", "The client.", required=True),
        _c("period", "date", "First day of the period assessed.", required=True),
        _c(
            "potential",
            "float",
            "Yearly purchasing potential of the client in this product range.",
            minimum=0,
        ),
        _c(
            "relationship",
            "int",
            "Quality of the relationship, 1 (poor) to 5 (excellent).",
            minimum=1,
            maximum=5,
        ),
        _c(
            "strategic_fit",
            "int",
            "Fit with the company's strategy, 1 (poor) to 5 (excellent).",
            minimum=1,
            maximum=5,
        ),
        _c("entered_by", "string", "Who assessed."),
        _c("entered_at", "date", "When."),
    ),
    key=("client_id", "period"),
    references=(ForeignKey("client_id", "clients", "client_id"),),
)

ACTIVITIES = Table(
    "activities",
    "Sales activities (visits, calls, offers) with the hours spent; optional.",
    (
        _c("client_id", "string", "The client.", required=True),
        _c("rep_id", "string", "Who spent the time."),
        _c("date", "date", "When.", required=True),
        _c("kind", "string", "Visit, call, offer, meeting, ..."),
        _c("hours", "float", "Hours spent.", minimum=0),
    ),
    key=("client_id", "rep_id", "date", "kind"),
    references=(ForeignKey("client_id", "clients", "client_id"),),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (CLIENTS, REPS, PRODUCTS, INVOICE_LINES, COST_TO_SERVE, OPPORTUNITIES, ASSESSMENTS, ACTIVITIES)
}
"""Every canonical table by name, in load order (a table's references come before it)."""

LOAD_ORDER: tuple[str, ...] = (
    "reps",
    "clients",
    "products",
    "invoice_lines",
    "cost_to_serve",
    "opportunities",
    "assessments",
    "activities",
)


def table(name: str) -> Table:
    """Return the canonical table called ``name``.

    Raises
    ------
    KeyError
        With the list of known tables, when ``name`` is not one of them.
    """
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLES)
        raise KeyError(f"unknown table {name!r}; the data contract has: {known}") from None

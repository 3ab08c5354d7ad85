"""One file's import, batch by batch: clean, type, derive, check, stage.

Per batch, in order: rows with every used cell empty are skipped; invoice lines without a client are skipped
(or are errors, with ``on_missing_client = "error"``); text cells are checked (NUL bytes, length, formulas); every
column is typed (numbers with the file's decimal mark, dates with the column's format, see
:mod:`salesfolio.ingest.convert`); derived columns are filled; required values, bounds and date ranges are
checked; product IDs that differ from a known product only by spaces or case are read as that product; clients
referred to by opportunities, assessments, cost-to-serve rows and activities must be known; the IDs and
attributes that stubs will need are tallied; the batch is staged.
"""

from __future__ import annotations

import functools
import operator
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.contract import TABLES
from salesfolio.ingest import convert
from salesfolio.ingest.aliases import target_type
from salesfolio.ingest.errors import WARNINGS, IssueLog, cell_issue
from salesfolio.ingest.plan import FilePlan
from salesfolio.ingest.readers import SourceBatch
from salesfolio.ingest.report import FileReport
from salesfolio.ingest.validate import (
    FUTURE_DAYS,
    FUTURE_DAYS_EXPECTED_CLOSE,
    check_bounds,
    check_dates,
    check_text,
    report_cells,
)

if TYPE_CHECKING:
    from salesfolio.ingest.loader import ImportRun

CLIENT_REFERENCES = ("cost_to_serve", "opportunities", "assessments", "activities")
CLIENT_ATTRIBUTES = {
    "client_name": "name",
    "client_industry": "industry",
    "client_region": "region",
    "client_country": "country",
}
PRODUCT_ATTRIBUTES = {"product_name": "name", "product_category": "category"}
"""Source attributes of invoice lines that describe the client or product a stub is created for, and its column."""
REP_REFERENCES = {"clients": "owner_id", "invoice_lines": "rep_id", "opportunities": "owner_id", "activities": "rep_id"}
"""The columns naming a rep, per table (unknown reps become stubs)."""
BOOL_WORDS = "yes/no, true/false, 1/0, tak/nie"


def _is_text(values: pa.Array) -> bool:
    return bool(pa.types.is_string(values.type) or pa.types.is_large_string(values.type))


def _fold(product: str) -> str:
    return "".join(product.split()).lower()


class FileJob:
    """The running state of one file's import (see the module docstring)."""

    def __init__(self, plan: FilePlan, run: ImportRun, log: IssueLog, report: FileReport) -> None:
        self.plan = plan
        self.run = run
        self.log = log
        self.report = report
        self.table = plan.table
        self.spec = TABLES[plan.table]
        self.targets = [plan.columns[p] for p in plan.columns]
        self.sources = {target: plan.source.columns[p] for p, target in plan.columns.items()}
        self.decimal: str | None = plan.options.decimal
        if self.decimal:
            report.decimal = self.decimal
            report.notes.append("decimal mark from the mapping")
        self.date_formats: dict[tuple[str, bool], convert.DateFormat] = {}
        self.counts: Counter[str] = Counter()
        self.formula_example: str | None = None
        self.unpriced_stages: Counter[str] = Counter()
        self.product_matches: Counter[tuple[str, str]] = Counter()
        self._products: dict[str, str] | None = None
        self._known_products: set[str] = set()

    # -- the batch -------------------------------------------------------------------------------------------
    def handle(self, batch: SourceBatch) -> None:
        """Import one batch (see the module docstring)."""
        rows = np.arange(batch.first_row, batch.first_row + batch.num_rows, dtype=np.int64)
        self.report.rows_read += batch.num_rows
        cells: dict[str, pa.Array] = {}
        for target, values in zip(self.targets, batch.columns, strict=True):
            array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            cells[target] = convert.as_text(array) if _is_text(array) else array
        present = functools.reduce(operator.or_, [np.asarray(pc.is_valid(v)) for v in cells.values()])
        cells, rows = self._keep(cells, rows, present, "empty row")
        if self.table == "invoice_lines":
            cells, rows = self._clients_present(cells, rows)
        if len(rows) == 0:
            return
        bad = np.zeros(len(rows), dtype=bool)
        for target, values in cells.items():
            if _is_text(values):
                hostile, formulas, example = check_text(self.log, values, rows, self._source(target), target)
                bad |= np.asarray(hostile)
                self.counts["formula"] += formulas
                self.formula_example = self.formula_example or example
        self._decide_decimal(cells)
        typed: dict[str, pa.Array] = {}
        shown: dict[str, pa.Array] = {}
        for target, values in cells.items():
            shown[target] = values if _is_text(values) else convert.as_text(values)
            typed[target], unreadable = self._convert(target, values, shown[target], rows)
            bad |= unreadable
        typed = self.plan.derivations.apply(typed)
        self._check_rows(typed, shown, rows, bad)
        if self.table in ("invoice_lines", "opportunities") and "product_id" in typed:
            typed["product_id"] = self._match_products(typed["product_id"])
        if self.table in CLIENT_REFERENCES and "client_id" in typed:
            self._check_clients(typed, rows)
        self._tally(typed)
        data = pa.table({c: typed[c] for c in self.spec.names if c in typed})
        self.run.stage(self.table).append_rows(data, self.plan.index, rows)
        self.report.rows_loaded += len(rows)

    def _source(self, target: str) -> str:
        return self.sources.get(target, target)

    def _keep(
        self, cells: dict[str, pa.Array], rows: np.ndarray, keep: np.ndarray, reason: str
    ) -> tuple[dict[str, pa.Array], np.ndarray]:
        if keep.all():
            return cells, rows
        self.report.skip(reason, int((~keep).sum()))
        mask = pa.array(keep)
        return {t: pc.filter(v, mask) for t, v in cells.items()}, rows[keep]

    def _clients_present(self, cells: dict[str, pa.Array], rows: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
        client = cells.get("client_id", cells.get("client_name"))
        if client is None:
            return cells, rows
        has_client = np.asarray(pc.is_valid(client))
        self.counts["lines"] += len(rows)
        if self.plan.options.on_missing_client == "error":
            for index in np.flatnonzero(~has_client)[: self.log.room]:
                target = "client_id" if "client_id" in cells else "client_name"
                self.log.add(
                    cell_issue(
                        "missing_client", self.log.file, int(rows[index]), self._source(target), "client_id", None
                    )
                )
            self.log.count_more(int((~has_client).sum()) - min(int((~has_client).sum()), self.log.room))
            return cells, rows
        self.counts["no_client"] += int((~has_client).sum())
        return self._keep(cells, rows, has_client, "no client (retail or cash sale)")

    # -- typing ----------------------------------------------------------------------------------------------
    def _decide_decimal(self, cells: dict[str, pa.Array]) -> None:
        if self.decimal is not None:
            return
        samples = [v for t, v in cells.items() if target_type(self.table, t) in ("float", "int") and _is_text(v)]
        if not samples:
            return
        decimal, why = convert.detect_decimal(samples)
        if decimal is None:
            hint = self.plan.source.decimal_hint
            decimal = hint or "."
            why = "no number tells; the file is semicolon-separated" if hint else "no number tells; point assumed"
        self.decimal = decimal
        self.report.decimal = decimal
        self.report.notes.append(f"decimal {decimal!r} ({why})")

    def _order_hint(self) -> tuple[str | None, str]:
        order = self.plan.options.date_order
        if order:
            return order, "date_format in the mapping"
        for (target, _), fmt in self.date_formats.items():
            if fmt.kind == "numeric" and fmt.decided and fmt.order:
                return fmt.order, f"as the column {self._source(target)!r}"
        if self.decimal == ",":
            return "dmy", "the file uses a decimal comma"
        return "mdy", "the file uses a decimal point" if self.decimal == "." else "month/day assumed (US exports)"

    def _date_format(self, target: str, values: pa.Array) -> convert.DateFormat | None:
        key = (target, _is_text(values))
        if key not in self.date_formats:
            order, why = self._order_hint()
            fmt = convert.detect_date_format(values, order, why)  # type: ignore[arg-type]
            if fmt is None:
                return None
            self.date_formats[key] = fmt
            self.report.date_formats[self._source(target)] = fmt.describe()
        return self.date_formats[key]

    def _convert(self, target: str, values: pa.Array, shown: pa.Array, rows: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        kind = target_type(self.table, target)
        source = self._source(target)
        none = np.zeros(len(rows), dtype=bool)
        if kind == "string":
            text = values if _is_text(values) else shown
            return (convert.normalise_ids(text) if target.endswith("_id") else text), none
        if kind in ("float", "int"):
            decimal = self.decimal or "."
            if kind == "float":
                number, unreadable = (
                    convert.parse_numbers(values, decimal) if _is_text(values) else convert.to_float(values, decimal)
                )
                fractional = None
            else:
                number, unreadable, fractional = convert.to_int(values, decimal)
            report_cells(
                self.log, unreadable, rows, source, target, shown, "bad_number", expected=convert.NUMBER_STYLE[decimal]
            )
            bad = np.asarray(unreadable)
            if fractional is not None:
                report_cells(self.log, fractional, rows, source, target, shown, "bad_integer")
                bad = bad | np.asarray(fractional)
            return number, bad
        if kind == "bool":
            flags, unreadable = convert.to_bool(values)
            report_cells(self.log, unreadable, rows, source, target, shown, "bad_bool", expected=BOOL_WORDS)
            return flags, np.asarray(unreadable)
        fmt = self._date_format(target, values)
        if fmt is None:
            return pa.nulls(len(rows), pa.date32()), none
        dates, unreadable, flipped = convert.parse_dates(values, fmt)
        report_cells(self.log, unreadable, rows, source, target, shown, "bad_date", expected=fmt.expected)
        code = "bad_date" if fmt.decided else "date_order_flip"
        report_cells(self.log, flipped, rows, source, target, shown, code, expected=fmt.expected)
        return dates, np.asarray(unreadable) | np.asarray(flipped)

    # -- checks ----------------------------------------------------------------------------------------------
    def _check_rows(
        self, typed: dict[str, pa.Array], shown: dict[str, pa.Array], rows: np.ndarray, bad: np.ndarray
    ) -> None:
        """Required values, bounds and date ranges (errors); returns and deal outcomes (counted)."""
        clean = pa.array(~bad)
        for column in self.spec.required_columns:
            if column.name in typed and not (self.table == "invoice_lines" and column.name == "client_id"):
                missing = pc.and_(pc.is_null(typed[column.name]), clean)
                report_cells(
                    self.log,
                    missing,
                    rows,
                    self._source(column.name),
                    column.name,
                    pa.nulls(len(rows), pa.string()),
                    "missing_value",
                    table=self.table,
                    column=column.name,
                )
        for column in self.spec.columns:
            if column.name not in typed:
                continue
            values = typed[column.name]
            if column.minimum is not None or column.maximum is not None:
                check_bounds(
                    self.log, self.spec, column.name, values, rows, self._source(column.name), shown.get(column.name)
                )
            if column.type == "date":
                future = FUTURE_DAYS_EXPECTED_CLOSE if column.name == "expected_close" else FUTURE_DAYS
                check_dates(self.log, column.name, values, rows, self._source(column.name), future)
        if self.table == "invoice_lines":
            negative = pa.array(np.zeros(len(rows), dtype=bool))
            for name in ("quantity", "revenue"):
                if name in typed:
                    negative = pc.or_(negative, pc.fill_null(pc.less(typed[name], 0), False))
            self.counts["returns"] += int(np.asarray(negative).sum())
        if self.table == "opportunities":
            self._check_opportunities(typed)

    def _check_opportunities(self, typed: dict[str, pa.Array]) -> None:
        won = typed.get("won")
        if won is None:
            return
        client = typed.get("client_id", pa.nulls(len(won), pa.string()))
        closed_alone = pc.and_(pc.is_valid(won), pc.is_null(client))
        self.counts["closed_without_client"] += int(np.asarray(closed_alone).sum())
        if "probability" in typed and "stage" in typed:
            unpriced = pc.and_(pc.and_(pc.is_null(won), pc.is_null(typed["probability"])), pc.is_valid(typed["stage"]))
            stages = pc.filter(typed["stage"], unpriced)
            if len(stages):
                for item in pc.value_counts(stages).to_pylist():
                    self.unpriced_stages[str(item["values"])] += int(item["counts"])

    def _check_clients(self, typed: dict[str, pa.Array], rows: np.ndarray) -> None:
        client = typed["client_id"]
        known = self.run.known_ids("clients")
        unknown = pc.and_(pc.is_valid(client), pc.invert(known.contains(client)))
        report_cells(self.log, unknown, rows, self._source("client_id"), "client_id", client, "unknown_client")

    def _match_products(self, products: pa.Array) -> pa.Array:
        if self._products is None:
            known = self.run.known_ids("products").values().to_pylist()
            self._known_products = set(known)
            folded: dict[str, list[str]] = {}
            for product in known:
                folded.setdefault(_fold(product), []).append(product)
            self._products = {k: v[0] for k, v in folded.items() if len(v) == 1}
        if not self._products:
            return products
        unique = pc.unique(products).drop_null().to_pylist()
        replace = {
            p: self._products[_fold(p)] for p in unique if p not in self._known_products and _fold(p) in self._products
        }
        if not replace:
            return products
        sources = pa.array(list(replace), pa.string())
        index = pc.index_in(products, value_set=sources)
        matched = pc.take(pa.array(list(replace.values()), pa.string()), index)
        for item in pc.value_counts(pc.drop_null(pc.take(sources, index))).to_pylist():
            self.product_matches[(item["values"], replace[item["values"]])] += int(item["counts"])
        return pc.coalesce(matched, products)

    # -- tallies for stubs -----------------------------------------------------------------------------------
    def _tally(self, typed: dict[str, pa.Array]) -> None:
        run = self.run
        t = self.table
        if t in ("clients", "reps", "products"):
            run.known_ids(t).add(typed[self.spec.key[0]])
        if t == "clients" and "parent_id" in typed:
            run.id_set("clients.parent_id").add(typed["parent_id"])
        if t == "reps" and "manager_id" in typed:
            run.id_set("reps.manager_id").add(typed["manager_id"])
            if "team" in typed:
                run.tally("reps", "manager_team").add(typed["manager_id"], typed["team"])
        if t == "invoice_lines":
            run.id_set("invoice_lines.client_id").add(typed["client_id"])
            for attribute, column in CLIENT_ATTRIBUTES.items():
                if attribute in typed:
                    run.tally("clients", column).add(typed["client_id"], typed[attribute])
            if "product_id" in typed:
                for attribute, column in PRODUCT_ATTRIBUTES.items():
                    if attribute in typed:
                        run.tally("products", column).add(typed["product_id"], typed[attribute])
        if t in ("invoice_lines", "opportunities") and "product_id" in typed:
            run.id_set(f"{t}.product_id").add(typed["product_id"])
        rep = REP_REFERENCES.get(t)
        if rep is not None and rep in typed:
            run.id_set(f"{t}.{rep}").add(typed[rep])

    # -- the end ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write the file's counts and warnings into its report."""
        report = self.report
        report.derived = list(self.plan.derivations.notes)
        empty = report.rows_skipped.get("empty row", 0)
        if empty:
            report.warn(WARNINGS["empty_rows"].format(count=f"{empty:,}"))
        lines = self.counts["lines"] or report.rows_read
        if self.counts["no_client"]:
            report.warn(
                WARNINGS["no_client"].format(
                    count=f"{self.counts['no_client']:,}", share=_share(self.counts["no_client"], lines)
                )
            )
        if self.counts["returns"]:
            report.warn(
                WARNINGS["returns"].format(
                    count=f"{self.counts['returns']:,}", share=_share(self.counts["returns"], report.rows_loaded)
                )
            )
        if self.counts["formula"]:
            report.warn(
                WARNINGS["formula"].format(count=f"{self.counts['formula']:,}", example=f'"{self.formula_example}"')
            )
        for (source, target), count in sorted(self.product_matches.items()):
            report.warn(WARNINGS["product_matched"].format(source=source, target=target, count=f"{count:,}"))
        if self.counts["closed_without_client"]:
            report.warn(WARNINGS["closed_without_client"].format(count=f"{self.counts['closed_without_client']:,}"))
        if self.unpriced_stages:
            stages = ", ".join(f'"{s}"' for s in sorted(self.unpriced_stages))
            report.warn(
                WARNINGS["no_probability"].format(count=f"{sum(self.unpriced_stages.values()):,}", stages=stages)
            )


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0 %"

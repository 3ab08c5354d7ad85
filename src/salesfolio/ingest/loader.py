"""The import run: files -> staging tables -> checks -> one merge per table, all or nothing.

:func:`run_import` reads every file (in :data:`~salesfolio.contract.LOAD_ORDER`, so that the clients, products
and reps a run brings are known when the invoice lines and opportunities that refer to them are read), types and
checks each batch, stages it in the warehouse, then checks across rows and files. Only when no file has an error
(and not in a dry run) are the staging tables merged into the canonical tables, table by table in load order and
all in one transaction (on engines without transactions, such as Spark, merely after every file has passed);
otherwise they are dropped and the warehouse is as it was.

Master data a run refers to but does not bring is created as stubs (the report counts them): clients of invoice
lines (with the name, industry, region and country the lines carry, the most frequent value per client), products
of invoice lines and opportunities, reps named as owners, salespeople or managers. Existing records are never
overwritten by a stub. Opportunities, assessments, cost-to-serve rows and activities must name known clients.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from salesfolio.contract import LOAD_ORDER, TABLES
from salesfolio.ingest import sniff
from salesfolio.ingest.errors import WARNINGS, ImportIssue, IngestError, IssueLog, file_issue
from salesfolio.ingest.filejob import CLIENT_ATTRIBUTES, PRODUCT_ATTRIBUTES, REP_REFERENCES, FileJob
from salesfolio.ingest.mapping import Mapping as MappingSpec
from salesfolio.ingest.mapping import MappingError, load_mapping
from salesfolio.ingest.plan import FilePlan, plan_file
from salesfolio.ingest.readers import open_source
from salesfolio.ingest.report import FileReport, ImportReport
from salesfolio.ingest.staging import IdSet, RunStaging, Tally
from salesfolio.ingest.validate import duplicate_keys, exact_duplicate_lines
from salesfolio.warehouse import Warehouse

Progress = Callable[[str, int, int, int], None]
"""``progress(file, rows_done, bytes_done, bytes_total)``, called after every batch."""


def run_import(
    warehouse: Warehouse,
    paths: str | Path | Iterable[str | Path],
    *,
    table: str | None = None,
    mapping: str | Path | Mapping[str, Any] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import data files into the warehouse's canonical tables, all or nothing.

    Parameters
    ----------
    warehouse
        The warehouse to load into.
    paths
        Files and/or folders (a folder stands for its data files, not recursively).
    table
        Force this canonical table for every file (default: detected per file from headers and name).
    mapping
        A mapping TOML file or a dict of the same shape (see :mod:`salesfolio.ingest.mapping`).
    dry_run
        Read, convert and validate everything through staging tables, then drop them (nothing is loaded).
    progress
        Called after each batch as ``progress(file, rows_done, bytes_done, bytes_total)``.

    Returns
    -------
    ImportReport
        ``ok`` false with ``errors`` when anything stopped the import; then nothing was loaded.
    """
    started = time.perf_counter()
    report = ImportReport(dry_run=dry_run)
    run = ImportRun(warehouse, report, progress)
    try:
        spec = load_mapping(mapping)
    except MappingError as exc:
        name = "mapping" if mapping is None or isinstance(mapping, Mapping) else Path(str(mapping)).name
        report.errors.append(ImportIssue(name, None, None, None, None, str(exc), "mapping_error"))
        spec = None
    if table is not None and table not in TABLES:
        report.errors.append(file_issue("unknown_table_name", "--table", table=table, tables=", ".join(TABLES)))
    if report.errors or spec is None:
        report.seconds = time.perf_counter() - started
        return report
    plans = run.plan(_collect(paths, report), spec, table)
    with contextlib.ExitStack() as stack:
        run.stack = stack
        for name in LOAD_ORDER:
            for plan in (p for p in plans if p.table == name):
                run.process(plan)
            run.finish(name)
        run.cross_checks()
        report.errors.extend(run.issues())
        report.ok = not report.errors
        if report.ok and not dry_run:
            with run.warehouse.transaction():
                for name in LOAD_ORDER:
                    if name in run.stages:
                        report.loaded[name] = run.stages[name].merge()
    if not report.ok:
        for file_report in report.files:
            file_report.rows_loaded = 0
    report.seconds = time.perf_counter() - started
    return report


def _collect(paths: str | Path | Iterable[str | Path], report: ImportReport) -> list[tuple[Path, str]]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[tuple[Path, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _is_data(p))
            if not files:
                report.errors.append(file_issue("no_data_files", str(path)))
            found.extend((f, f.name) for f in files)
        elif path.is_file():
            found.append((path, path.name))
        else:
            report.errors.append(file_issue("not_found", str(path)))
    names = Counter(display for _, display in found)
    return [(p, d if names[d] == 1 else str(p)) for p, d in found]


def _is_data(path: Path) -> bool:
    name = path.name.lower()
    for wrapper in sniff.COMPRESSED_EXTENSIONS:
        name = name.removesuffix(wrapper) if name.endswith((*sniff.DATA_EXTENSIONS, wrapper)) else name
    return name.endswith(sniff.DATA_EXTENSIONS) or path.suffix.lower() == ".zip"


class _Known:
    """IDs of one master table known to the run: in the warehouse already, or brought or created by the run."""

    def __init__(self, warehouse: Warehouse, table: str) -> None:
        key = TABLES[table].key[0]
        existing = warehouse.table(table).select(key).to_pyarrow().column(key) if warehouse.has(table) else None
        empty = pa.array([], pa.string())
        self.existing = pc.unique(existing.combine_chunks()).drop_null() if existing is not None else empty
        self.added = IdSet()
        self._cache: pa.Array | None = None

    def add(self, values: pa.Array) -> None:
        """Remember ``values`` as known."""
        self.added.add(values)
        self._cache = None

    def values(self) -> pa.Array:
        """Every known ID."""
        if self._cache is None:
            self._cache = pc.unique(pa.concat_arrays([self.existing.cast(pa.string()), self.added.values()]))
        return self._cache

    def contains(self, values: pa.Array) -> pa.Array:
        """Mask of ``values`` that are known IDs."""
        return pc.fill_null(pc.is_in(values, value_set=self.values()), False)


class ImportRun:
    """The state of one import run (see the module docstring)."""

    def __init__(self, warehouse: Warehouse, report: ImportReport, progress: Progress | None) -> None:
        self.warehouse = warehouse
        self.report = report
        self.progress = progress
        self.stack: contextlib.ExitStack | None = None
        self.stages: dict[str, RunStaging] = {}
        self.logs: list[IssueLog] = []
        self.displays: list[str] = []
        self.file_reports: list[FileReport] = []
        self.known: dict[str, _Known] = {}
        self.ids: dict[str, IdSet] = {}
        self.tallies: dict[tuple[str, str], Tally] = {}
        self.plans: list[FilePlan] = []

    # -- planning ----------------------------------------------------------------------------------------------
    def plan(self, files: list[tuple[Path, str]], spec: MappingSpec, forced: str | None) -> list[FilePlan]:
        """Open and plan every file; return the plans in load order (files that cannot be read get issues)."""
        for path, display in files:
            index = len(self.displays)
            file_report = FileReport(display)
            self.report.files.append(file_report)
            self.file_reports.append(file_report)
            self.displays.append(display)
            log = IssueLog(display)
            self.logs.append(log)
            try:
                options = spec.options_for(path, display)
            except MappingError as exc:
                log.add(file_issue("mapping_error", display, reason=str(exc)))
                continue
            if forced is not None:
                options = replace(options, table=forced)
            if options.skip:
                file_report.skipped = True
                file_report.warn(WARNINGS["skipped_by_mapping"].format(file=display))
                continue
            if options.table is None and sniff.looks_like_dictionary(path):
                file_report.skipped = True
                file_report.warn(WARNINGS["dictionary"].format(file=display))
                continue
            try:
                source = open_source(path, display, options)
            except IngestError as exc:
                for issue in exc.issues:
                    log.add(issue)
                continue
            file_report.kind, file_report.sheet = source.kind, source.sheet
            file_report.encoding = source.encoding
            file_report.delimiter = "whitespace" if source.delimiter == sniff.WHITESPACE else source.delimiter
            file_report.header_row = source.header_row
            file_report.notes.extend(source.notes)
            planned = plan_file(index, source, options)
            if isinstance(planned, list):
                for issue in planned:
                    log.add(issue)
                continue
            file_report.table = planned.table
            file_report.column_mapping = {source.columns[p]: t for p, t in planned.columns.items()}
            file_report.mapped_by = {source.columns[p]: how for p, how in planned.mapped_by.items()}
            file_report.unmapped = planned.unmapped
            file_report.derived = list(planned.derivations.notes)
            self.plans.append(planned)
        return sorted(self.plans, key=lambda p: (LOAD_ORDER.index(p.table), p.index))

    # -- state helpers -----------------------------------------------------------------------------------------
    def stage(self, table: str) -> RunStaging:
        """The run's staging table for ``table`` (created on first use, dropped when the run ends)."""
        if table not in self.stages:
            stage = RunStaging(self.warehouse, TABLES[table])
            assert self.stack is not None  # noqa: S101 - set by run_import
            self.stack.callback(stage.drop)
            self.stages[table] = stage
        return self.stages[table]

    def known_ids(self, table: str) -> _Known:
        """The IDs of master table ``table`` known so far."""
        if table not in self.known:
            self.known[table] = _Known(self.warehouse, table)
        return self.known[table]

    def id_set(self, name: str) -> IdSet:
        """A named set of IDs the run collects (e.g. ``invoice_lines.client_id``)."""
        return self.ids.setdefault(name, IdSet())

    def tally(self, table: str, attribute: str) -> Tally:
        """The tally of ``attribute`` values per ID for stubs of ``table``."""
        return self.tallies.setdefault((table, attribute), Tally())

    def issues(self) -> list[ImportIssue]:
        """Every file's issues, in file order (each file report counts its own)."""
        for log, file_report in zip(self.logs, self.file_reports, strict=True):
            file_report.errors = len(log)
        return [issue for log in self.logs for issue in log.all()]

    # -- reading -----------------------------------------------------------------------------------------------
    def process(self, plan: FilePlan) -> None:
        """Read, check and stage one file."""
        job = FileJob(plan, self, self.logs[plan.index], self.file_reports[plan.index])
        positions = list(plan.columns)
        rows_done = 0
        try:
            for batch in plan.source.batches(positions):
                job.handle(batch)
                rows_done += batch.num_rows
                if self.progress is not None:
                    self.progress(plan.display, rows_done, batch.bytes_done, plan.source.bytes_total)
            if rows_done == 0:
                self.logs[plan.index].add(file_issue("header_only", plan.display))
        except IngestError as exc:
            for issue in exc.issues:
                self.logs[plan.index].add(issue)
        job.close()
        if self.progress is not None:
            self.progress(plan.display, rows_done, plan.source.bytes_total, plan.source.bytes_total)

    # -- after each table --------------------------------------------------------------------------------------
    def finish(self, table: str) -> None:
        """Create the stubs the table's files call for, and number invoice lines."""
        reports = [self.file_reports[p.index] for p in self.plans if p.table == table]
        if table == "reps":
            managers = self.id_set("reps.manager_id").values()
            self._stubs("reps", managers, {"team": self.tally("reps", "manager_team")}, reports, "manager column")
        if table == "invoice_lines" and "invoice_lines" in self.stages:
            self.stages["invoice_lines"].number_lines()
            attributes = {c: self.tally("clients", c) for c in CLIENT_ATTRIBUTES.values()}
            clients = self.id_set("invoice_lines.client_id").values()
            self._stubs("clients", clients, attributes, reports, "invoice lines")
        if table in ("invoice_lines", "opportunities"):
            attributes = {c: self.tally("products", c) for c in PRODUCT_ATTRIBUTES.values()}
            self._stubs(
                "products",
                self.id_set(f"{table}.product_id").values(),
                attributes,
                reports,
                "invoice lines" if table == "invoice_lines" else "opportunities",
            )
        if table in REP_REFERENCES:
            column = REP_REFERENCES[table]
            self._stubs("reps", self.id_set(f"{table}.{column}").values(), {}, reports, f"{table}.{column}")
        if table == "clients":
            self._check_parents(reports)

    def _stubs(
        self, table: str, ids: pa.Array, attributes: dict[str, Tally], reports: list[FileReport], source: str
    ) -> None:
        if len(ids) == 0:
            return
        known = self.known_ids(table)
        unknown = pc.filter(ids, pc.invert(known.contains(ids)))
        if len(unknown) == 0:
            return
        unknown = unknown.sort()
        columns: dict[str, pa.Array] = {TABLES[table].key[0]: unknown}
        for column, tally in attributes.items():
            best = tally.most_frequent()
            index = pc.index_in(unknown, value_set=best.column("id").combine_chunks())
            columns[column] = pc.take(best.column("value").combine_chunks(), index)
        columns["name"] = pc.coalesce(columns["name"], unknown) if "name" in columns else unknown
        stub = pa.table(columns)
        self.stage(table).append_rows(stub, -1, np.full(stub.num_rows, -1))
        known.add(unknown)
        self.report.created[table] = self.report.created.get(table, 0) + stub.num_rows
        for file_report in reports:
            file_report.warn(WARNINGS["created"].format(count=f"{stub.num_rows:,}", table=table, source=source))

    def _check_parents(self, reports: list[FileReport]) -> None:
        parents = self.id_set("clients.parent_id").values()
        if len(parents) == 0:
            return
        missing = pc.filter(parents, pc.invert(self.known_ids("clients").contains(parents)))
        if len(missing):
            examples = ", ".join(f'"{v}"' for v in missing.to_pylist()[:3])
            for file_report in reports:
                file_report.warn(WARNINGS["unknown_parent"].format(count=len(missing), examples=examples))

    # -- across files ------------------------------------------------------------------------------------------
    def cross_checks(self) -> None:
        """Duplicate keys within and across files; exact duplicate invoice lines (a warning)."""
        for name, stage in self.stages.items():
            duplicate_keys(stage, self.displays, lambda i: self.logs[i])
            if name == "invoice_lines":
                for index, count in exact_duplicate_lines(stage).items():
                    self.file_reports[index].warn(WARNINGS["exact_duplicates"].format(count=f"{count:,}"))

"""The import report: per file what was read, how it was understood and what was loaded; per run the errors.

The web app's upload page shows it after a dry run (``run_import(..., dry_run=True)``) for the user to confirm;
the CLI prints :meth:`ImportReport.render_text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from salesfolio.ingest.errors import ImportIssue, IngestError


@dataclass
class FileReport:
    """What happened to one file.

    ``rows_loaded`` counts the rows that pass to the warehouse (in a dry run: that would); it is 0 when the run
    failed. ``rows_skipped`` maps a reason to a count. ``column_mapping`` maps each source column used to its
    canonical column (or source attribute), ``mapped_by`` says whether the mapping file or a built-in alias
    decided. ``derived`` lists the derivation rules applied, ``date_formats`` the format read per date column.
    """

    path: str
    table: str | None = None
    kind: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    header_row: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_skipped: dict[str, int] = field(default_factory=dict)
    column_mapping: dict[str, str] = field(default_factory=dict)
    mapped_by: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    date_formats: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False
    errors: int = 0

    def skip(self, reason: str, count: int) -> None:
        """Count ``count`` rows skipped for ``reason``."""
        if count:
            self.rows_skipped[reason] = self.rows_skipped.get(reason, 0) + int(count)

    def warn(self, message: str) -> None:
        """Add a warning (once)."""
        if message not in self.warnings:
            self.warnings.append(message)


@dataclass
class ImportReport:
    """The outcome of :func:`salesfolio.ingest.run_import`.

    ``ok`` is true when no file had an error; only then, and not in a dry run, ``loaded`` holds the rows
    written per table (client, product and rep stubs included; ``created`` counts those stubs per table).
    """

    ok: bool = False
    dry_run: bool = False
    files: list[FileReport] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    loaded: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def file(self, path: str) -> FileReport:
        """The report of the file shown as ``path``."""
        for report in self.files:
            if report.path == path:
                return report
        raise KeyError(f"no file {path!r} in this import; it has: {', '.join(f.path for f in self.files)}")

    def raise_for_errors(self) -> None:
        """Raise :class:`IngestError` with the issues when the import failed."""
        if not self.ok:
            raise IngestError(self.errors)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (JSON-ready)."""
        data = asdict(self)
        data["errors"] = [issue.to_dict() for issue in self.errors]
        return data

    def render_text(self) -> str:
        """The report as the CLI prints it."""
        lines: list[str] = []
        verdict = "dry run: nothing loaded" if self.dry_run else "loaded" if self.ok else "nothing loaded"
        status = "OK" if self.ok else "FAILED"
        lines.append(f"Import {status} ({verdict}), {len(self.files)} file(s), {self.seconds:.1f} s")
        for f in self.files:
            lines.append("")
            if f.skipped:
                lines.append(f"{f.path}: skipped")
            else:
                where = ", ".join(
                    x
                    for x in (
                        f.kind,
                        f"sheet {f.sheet}" if f.sheet else "",
                        f.encoding or "",
                        f"delimiter {f.delimiter!r}" if f.delimiter else "",
                        f"decimal {f.decimal!r}" if f.decimal else "",
                    )
                    if x
                )
                lines.append(f"{f.path} -> {f.table or '?'} ({where})")
                lines.append(f"  rows read {f.rows_read:,}, loaded {f.rows_loaded:,}")
                for reason, count in f.rows_skipped.items():
                    lines.append(f"  skipped {count:,}: {reason}")
                if f.column_mapping:
                    pairs = ", ".join(f"{s} -> {c}" for s, c in f.column_mapping.items())
                    lines.append(f"  columns: {pairs}")
                if f.unmapped:
                    lines.append(f"  not used: {', '.join(f.unmapped)}")
                for rule in f.derived:
                    lines.append(f"  derived: {rule}")
                for column, fmt in f.date_formats.items():
                    lines.append(f"  dates in {column}: {fmt}")
            for note in f.notes:
                lines.append(f"  note: {note}")
            for warning in f.warnings:
                lines.append(f"  warning: {warning}")
        if self.created:
            lines.append("")
            lines.append("created: " + ", ".join(f"{n:,} {t}" for t, n in self.created.items()))
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        if self.loaded:
            lines.append("")
            lines.append("loaded: " + ", ".join(f"{t} {n:,}" for t, n in self.loaded.items()))
        if self.errors:
            lines.append("")
            lines.append(f"{len(self.errors)} error(s):")
            lines.extend(f"  {issue}" for issue in self.errors)
        return "\n".join(lines)

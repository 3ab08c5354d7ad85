"""The data-quality report as data and as text, HTML and a console table (:mod:`salesfolio.quality` fills it).

A :class:`QualityReport` holds the checks of :func:`salesfolio.quality.assess` in a fixed order, each a
:class:`QualityCheck` with its count, share, examples and advice; this module renders it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.table import Table as RichTable

Severity = Literal["info", "warning", "error"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class QualityCheck:
    """One check of the report.

    Parameters
    ----------
    id
        Stable identifier (``clients_without_owner``), for code, translations and tests.
    title
        What was checked, in words.
    severity
        ``info``, ``warning`` or ``error`` (see the module docstring).
    count, total
        Affected items out of all items checked (what an item is depends on the check: lines, clients, ...).
    share
        ``count / total``; ``None`` when ``total`` is 0.
    examples
        Up to ten affected rows, most important first.
    advice
        What to do about it.
    details
        Further figures of the check (revenue shares, derived owners, first and last dates, ...).
    """

    id: str
    title: str
    severity: Severity
    count: int
    total: int
    share: float | None
    examples: list[dict[str, Any]]
    advice: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is affected and nothing is wrong (an empty warehouse is not ok)."""
        return self.count == 0 and self.severity == "info"


@dataclass(frozen=True)
class QualityReport:
    """The outcome of :func:`assess`: row counts of the canonical tables and the checks, in a fixed order."""

    as_of: dt.date
    backend: str
    tables: dict[str, int]
    checks: list[QualityCheck]

    def check(self, check_id: str) -> QualityCheck:
        """The check called ``check_id``; ``KeyError`` naming the known ones if there is none."""
        for c in self.checks:
            if c.id == check_id:
                return c
        known = ", ".join(c.id for c in self.checks)
        raise KeyError(f"no quality check {check_id!r}; the report has: {known}")

    @property
    def worst(self) -> Severity:
        """The most severe level of any check (``info`` when every check is ``info``)."""
        return min((c.severity for c in self.checks), key=SEVERITY_ORDER.__getitem__, default="info")

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """One row per check for a text table: severity, title, count, total, share (formatted)."""
        return [(c.severity, c.title, f"{c.count:,}", f"{c.total:,}", format_share(c.share)) for c in self.checks]

    def render_text(self) -> str:
        """The report as plain text: a fixed-width table, then the advice of every check that found something."""
        header = ("severity", "check", "count", "of", "share")
        rows = [header, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [f"Data quality as of {self.as_of.isoformat()} ({self.backend})", ""]
        for r in rows:
            lines.append(
                f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  "
                f"{r[4]:>{widths[4]}}".rstrip()
            )
        found = [c for c in self.checks if not c.ok]
        if found:
            lines += ["", "What to do:"]
            lines += [f"- {c.title}: {c.advice}" for c in found]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (dates as ISO strings)."""
        return {
            "as_of": self.as_of.isoformat(),
            "backend": self.backend,
            "worst": self.worst,
            "tables": dict(self.tables),
            "checks": [_jsonable(asdict(c)) for c in self.checks],
        }

    def to_html(self) -> str:
        """A self-contained HTML page (inline CSS, no external assets), rendered with autoescaping on."""
        template = _environment().get_template("quality.html")
        columns = {c.id: _columns(c.examples) for c in self.checks}
        return str(template.render(report=self, columns=columns, format_share=format_share, format_value=format_value))


def format_share(share: float | None) -> str:
    """``0.1234`` -> ``"12.3 %"``; ``None`` -> ``"–"``."""
    return "–" if share is None else f"{share * 100:.1f} %"


def format_value(value: Any) -> str:
    """An example cell as text: thousands separators for numbers, ISO dates, ``–`` for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("salesfolio.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _columns(examples: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for row in examples:
        out += [k for k in row if k not in out]
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rich_table(report: QualityReport) -> RichTable:
    """The report as a ``rich.table.Table`` for the console (severity coloured, advice wrapped)."""
    from rich.table import Table
    from rich.text import Text

    colours = {"error": "bold red", "warning": "yellow", "info": "green"}
    table = Table(title=f"Data quality as of {report.as_of.isoformat()}", show_lines=False, expand=False)
    table.add_column("severity")
    table.add_column("check")
    table.add_column("count", justify="right")
    table.add_column("of", justify="right")
    table.add_column("share", justify="right")
    table.add_column("advice", overflow="fold", max_width=60)
    for check, row in zip(report.checks, report.rows(), strict=True):
        style = colours[check.severity] if not check.ok else "dim"
        table.add_row(Text(row[0], style=style), *row[1:], "" if check.ok else check.advice)
    return table

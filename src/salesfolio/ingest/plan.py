"""Planning a file: which canonical table it holds and which source column feeds which canonical column.

Table detection (when neither ``table=`` nor the mapping names one): each table scores the number of its columns
(and source attributes) the file's headers provide, through the mapping and the built-in aliases; a file-name
hint (:data:`~salesfolio.ingest.aliases.TABLE_HINTS`) adds half a point, so it breaks ties but never outweighs a
column. The best table wins; a tie is an error that asks for ``--table``.

Then the required columns are checked, counting those the derivations provide
(:class:`~salesfolio.ingest.derive.Derivations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from salesfolio.contract import TABLES
from salesfolio.ingest.aliases import TABLE_HINTS, normalise_header, recognise, targets
from salesfolio.ingest.derive import Derivations
from salesfolio.ingest.errors import ImportIssue, file_issue
from salesfolio.ingest.mapping import FileOptions
from salesfolio.ingest.readers import Source

REQUIRED_HINTS: dict[tuple[str, str], str] = {
    ("invoice_lines", "revenue"): " or provide quantity and unit price",
    ("invoice_lines", "invoice_id"): " or provide the client and the date (a client's purchases of a day then form "
    "one invoice)",
    ("invoice_lines", "client_id"): " or provide a client name column",
    ("clients", "client_id"): " or provide a name column (the names then serve as IDs)",
    ("clients", "name"): " or provide a client ID column",
    ("reps", "rep_id"): " or provide a name column (the names then serve as IDs)",
    ("products", "product_id"): " or provide a product name column",
}


@dataclass
class FilePlan:
    """A file ready to import: its source, table, column mapping and derivation rules."""

    index: int
    source: Source
    options: FileOptions
    table: str
    columns: dict[int, str]
    mapped_by: dict[int, str]
    derivations: Derivations
    unmapped: list[str] = field(default_factory=list)

    @property
    def display(self) -> str:
        """The file's name as the user sees it."""
        return self.source.display

    def source_name(self, target: str) -> str:
        """The source column feeding ``target`` (the target's own name when derived)."""
        for position, mapped in self.columns.items():
            if mapped == target:
                return self.source.columns[position]
        return target


def _mapped_positions(source: Source, options: FileOptions) -> tuple[dict[int, str], list[ImportIssue]]:
    positions: dict[int, str] = {}
    issues: list[ImportIssue] = []
    exact = {name: i for i, name in enumerate(source.columns)}
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(source.columns):
        loose.setdefault(normalise_header(name), []).append(i)
    for name, target in options.columns.items():
        if name in exact:
            positions[exact[name]] = target
        elif len(loose.get(normalise_header(name), [])) == 1:
            positions[loose[normalise_header(name)][0]] = target
        else:
            issues.append(
                file_issue("mapping_unknown_source", source.display, source=name, columns=", ".join(source.columns))
            )
    return positions, issues


def _hinted(path: Path, table: str) -> bool:
    name = path.name.lower()
    return any(fragment in name for fragment in TABLE_HINTS[table])


def detect_table(source: Source, mapped: dict[int, str]) -> tuple[str | None, list[ImportIssue]]:
    """The table the file holds by its headers and name (see the module docstring), or the issue why not."""
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    for table in TABLES:
        own = {p: t for p, t in mapped.items() if t and t in targets(table)}
        found = recognise(table, source.columns, taken=list(mapped), done=list(own.values()))
        counts[table] = len(own) + len(found)
        scores[table] = counts[table] + (0.5 if counts[table] and _hinted(source.path, table) else 0.0)
    ranked = sorted(TABLES, key=lambda t: -scores[t])
    best, second = ranked[0], ranked[1]
    if counts[best] == 0:
        return None, [file_issue("unknown_table", source.display, columns=", ".join(source.columns))]
    if scores[best] == scores[second]:
        issue = file_issue(
            "ambiguous_table", source.display, first=best, first_n=counts[best], second=second, second_n=counts[second]
        )
        return None, [issue]
    return best, []


def plan_file(index: int, source: Source, options: FileOptions) -> FilePlan | list[ImportIssue]:
    """Plan the import of ``source``: its table, column mapping and derivations, or the issues that stop it."""
    mapped, issues = _mapped_positions(source, options)
    if issues:
        return issues
    table = options.table
    if table is None:
        table, issues = detect_table(source, mapped)
        if table is None:
            return issues
    elif table not in TABLES:
        return [file_issue("unknown_table_name", source.display, table=table, tables=", ".join(TABLES))]
    allowed = targets(table)
    for position, target in mapped.items():
        if target and target not in allowed:
            issues.append(
                file_issue(
                    "mapping_target",
                    source.display,
                    source=source.columns[position],
                    target=target,
                    table=table,
                    targets=", ".join(allowed),
                )
            )
    if issues:
        return issues
    columns = {p: t for p, t in mapped.items() if t}
    mapped_by = dict.fromkeys(columns, "mapping")
    found = recognise(table, source.columns, taken=list(mapped), done=list(columns.values()))
    columns.update(found)
    mapped_by.update(dict.fromkeys(found, "alias"))
    derivations = Derivations(table, set(columns.values()), options.stage_probabilities)
    available = set(columns.values()) | derivations.provides
    for column in TABLES[table].required_columns:
        if column.name not in available:
            hint = REQUIRED_HINTS.get((table, column.name), "")
            issues.append(
                file_issue(
                    "missing_column",
                    source.display,
                    table=table,
                    column=column.name,
                    columns=", ".join(source.columns),
                    hint=hint,
                )
            )
    if issues:
        return issues
    unmapped = [name for i, name in enumerate(source.columns) if i not in columns and mapped.get(i) != ""]
    return FilePlan(index, source, options, table, dict(sorted(columns.items())), mapped_by, derivations, unmapped)

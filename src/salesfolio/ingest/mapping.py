"""Mapping files: what a user tells the importer that it cannot see for itself.

A mapping is a TOML file (or a dict of the same shape). ``[defaults]`` applies to every file; ``[files."NAME"]``
to the file called NAME (its name, its path relative to the folder imported, or a pattern such as ``"*.csv"``);
a more specific entry overrides a more general one key by key::

    [defaults]
    decimal = ","                      # decimal comma in every file

    [files."deals.xlsx"]
    table = "opportunities"            # which canonical table the file holds
    sheet = "Deals"                    # which sheet (default: the first with data)
    header_row = 3                     # where the header is (default: found automatically)
    date_format = "%d.%m.%Y"           # day.month.year; also %m/%d/%Y, %Y-%m-%d, %Y%m%d, %d.%m.%y, ...
    encoding = "cp1250"                # default: detected
    delimiter = ";"                    # default: detected; "whitespace" for space-aligned columns
    stage_probabilities = { "Negocjacje" = 0.6, "Oferta" = 0.4 }
    on_missing_client = "error"        # invoice lines without a client: "skip" (default) or "error"

    [files."deals.xlsx".columns]       # source column = canonical column ("" ignores the column)
    "Kwota netto" = "value"
    "Notatki" = ""

Other keys: ``header = false`` (the file has no header: its columns are called ``column 1``, ``column 2``, ...),
``skip = true`` (leave the file out), ``max_file_bytes`` (default 2 GiB).
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

MAX_FILE_BYTES = 2 * 1024**3
"""Files above this size are refused unless ``max_file_bytes`` says otherwise (default 2 GiB)."""

DateOrder = Literal["dmy", "mdy", "ymd"]

_OPTION_KEYS = {
    "table",
    "sheet",
    "header",
    "header_row",
    "date_format",
    "decimal",
    "encoding",
    "delimiter",
    "stage_probabilities",
    "on_missing_client",
    "skip",
    "max_file_bytes",
    "columns",
}


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class FileOptions:
    r"""Everything a mapping can say about one file (defaults: detect everything).

    Parameters
    ----------
    table
        The canonical table the file holds (default: detected from its columns and name).
    sheet
        The workbook sheet to read (default: the first sheet with data).
    header
        Whether the file has a header row (default ``True``).
    header_row
        The spreadsheet row of the header (1-based; default: the first row that looks like a header).
    date_format
        A strptime-style pattern fixing the order of day, month and year for ambiguous dates.
    decimal
        ``","`` or ``"."`` (default: detected from the numbers).
    encoding
        A Python codec name (default: detected).
    delimiter
        ``,`` ``;`` ``\\t`` ``|`` or ``whitespace`` (default: detected).
    columns
        Source column name -> canonical column (or ``""`` to ignore it); overrides the built-in aliases.
    stage_probabilities
        Stage name -> win probability (0..1), over the built-in table.
    on_missing_client
        ``skip`` (default) or ``error`` for invoice lines without a client.
    skip
        Leave the file out of the import.
    max_file_bytes
        Size limit (default :data:`MAX_FILE_BYTES`).
    """

    table: str | None = None
    sheet: str | None = None
    header: bool = True
    header_row: int | None = None
    date_format: str | None = None
    decimal: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    stage_probabilities: dict[str, float] = field(default_factory=dict)
    on_missing_client: Literal["skip", "error"] = "skip"
    skip: bool = False
    max_file_bytes: int = MAX_FILE_BYTES

    @property
    def date_order(self) -> DateOrder | None:
        """The day/month/year order ``date_format`` gives (``None`` without one)."""
        return date_order(self.date_format) if self.date_format else None


def date_order(pattern: str) -> DateOrder:
    """The order of day, month and year in a strptime-style ``pattern`` (``%d.%m.%Y`` -> ``dmy``).

    >>> date_order("%m/%d/%Y"), date_order("%Y%m%d")
    ('mdy', 'ymd')
    """
    positions = {p: pattern.find(p) for p in ("%d", "%m")}
    year = max(pattern.find("%Y"), pattern.find("%y"))
    if min(positions.values()) < 0 or year < 0:
        raise MappingError(f"date_format {pattern!r} needs %d, %m and %Y (or %y)")
    order = sorted([("d", positions["%d"]), ("m", positions["%m"]), ("y", year)], key=lambda kv: kv[1])
    key = "".join(k for k, _ in order)
    if key not in ("dmy", "mdy", "ymd"):
        raise MappingError(f"date_format {pattern!r}: the order {key} is not supported (use dmy, mdy or ymd)")
    return key  # type: ignore[return-value]


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping: ``defaults`` plus per-file entries keyed by name or pattern."""

    defaults: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "mapping"

    def options_for(self, path: Path, relative: str) -> FileOptions:
        """The options for the file at ``path`` (shown to the user as ``relative``): defaults, patterns, name."""
        merged: dict[str, Any] = dict(self.defaults)
        exact = {relative, path.name, str(path)}
        patterns = [k for k in self.files if k not in exact and _matches(k, path, relative)]
        for key in [*patterns, *[k for k in self.files if k in exact]]:
            entry = self.files[key]
            columns = {**merged.get("columns", {}), **entry.get("columns", {})}
            merged.update(entry)
            merged["columns"] = columns
        return _options(merged, f"{self.source} (for {relative})")


def _matches(pattern: str, path: Path, relative: str) -> bool:
    return any(ch in pattern for ch in "*?[") and (
        fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.name, pattern)
    )


def _options(raw: dict[str, Any], where: str) -> FileOptions:
    options = FileOptions()
    updates: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("table", "sheet", "date_format", "encoding"):
            updates[key] = _expect(value, str, key, where)
        elif key in ("header", "skip"):
            updates[key] = _expect(value, bool, key, where)
        elif key in ("header_row", "max_file_bytes"):
            number = _expect(value, int, key, where)
            if number < 1:
                raise MappingError(f"{where}: {key} must be 1 or more, not {number}")
            updates[key] = number
        elif key == "decimal":
            if value not in (",", "."):
                raise MappingError(f'{where}: decimal must be "," or ".", not {value!r}')
            updates[key] = value
        elif key == "delimiter":
            if value not in (",", ";", "\t", "|", "whitespace"):
                raise MappingError(f'{where}: delimiter must be one of ",", ";", "\\t", "|", "whitespace"')
            updates[key] = value
        elif key == "on_missing_client":
            if value not in ("skip", "error"):
                raise MappingError(f'{where}: on_missing_client must be "skip" or "error", not {value!r}')
            updates[key] = value
        elif key == "columns":
            table = _expect(value, dict, key, where)
            updates[key] = {str(k): _expect(v, str, f"columns.{k}", where) for k, v in table.items()}
        elif key == "stage_probabilities":
            stages = _expect(value, dict, key, where)
            probabilities: dict[str, float] = {}
            for stage, p in stages.items():
                if not isinstance(p, int | float) or isinstance(p, bool) or not 0 <= p <= 1:
                    raise MappingError(f"{where}: stage_probabilities.{stage} must be a number from 0 to 1")
                probabilities[str(stage)] = float(p)
            updates[key] = probabilities
        else:
            known = ", ".join(sorted(_OPTION_KEYS))
            raise MappingError(f"{where}: unknown key {key!r}; known keys: {known}")
    options = replace(options, **updates)
    if options.date_format:
        date_order(options.date_format)
    return options


def _expect(value: Any, kind: type, key: str, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MappingError(f"{where}: {key} must be a {kind.__name__}, not {value!r}")
    return value


def load_mapping(mapping: str | Path | MappingABC[str, Any] | None) -> Mapping:
    """Read a mapping from a TOML file path or a dict of the same shape (``None``: an empty mapping).

    Raises
    ------
    MappingError
        For a file that cannot be read or parsed, an unknown top-level section or key, or a bad value.
    """
    if mapping is None:
        return Mapping()
    if isinstance(mapping, MappingABC):
        data: dict[str, Any] = dict(mapping)
        source = "mapping"
    else:
        path = Path(mapping)
        source = path.name
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise MappingError(f"{source}: no such mapping file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{source}: not a valid TOML file ({exc})") from None
    unknown = set(data) - {"defaults", "files"}
    if unknown:
        raise MappingError(f'{source}: unknown section {sorted(unknown)[0]!r}; use [defaults] and [files."NAME"]')
    defaults = data.get("defaults", {})
    files = data.get("files", {})
    if not isinstance(defaults, dict) or not isinstance(files, dict):
        raise MappingError(f"{source}: [defaults] and [files] must be tables")
    _options(defaults, f"{source} [defaults]")  # validate early
    for name, entry in files.items():
        if not isinstance(entry, dict):
            raise MappingError(f'{source}: [files."{name}"] must be a table')
        _options(entry, f'{source} [files."{name}"]')
    return Mapping(defaults, {str(k): v for k, v in files.items()}, source)

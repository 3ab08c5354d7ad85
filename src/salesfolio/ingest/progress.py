"""Import progress: the callback type :func:`~salesfolio.ingest.run_import` calls, and a Rich progress bar for it.

>>> from rich.console import Console
>>> import io
>>> with rich_progress(Console(file=io.StringIO())) as progress:
...     progress("sales.csv", 1000, 50_000, 100_000)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from salesfolio.ingest.loader import Progress as ProgressCallback

__all__ = ["ProgressCallback", "rich_progress"]


@contextlib.contextmanager
def rich_progress(console: Console | None = None) -> Iterator[ProgressCallback]:
    """A Rich progress bar per file (bytes read, rows read, time left), driven by the callback it yields.

    Parameters
    ----------
    console
        Where to draw (default: a new Rich console on the terminal).
    """
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def update(file: str, rows_done: int, bytes_done: int, bytes_total: int) -> None:
            if file not in tasks:
                tasks[file] = bar.add_task(file, total=bytes_total or None, rows=0)
            bar.update(tasks[file], completed=bytes_done, rows=rows_done)

        yield update

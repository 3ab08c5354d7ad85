"""Imports through the web app: store the uploaded files, check them (dry run), then load them on confirmation.

An upload is an :class:`~salesfolio.store.models.ImportJob`. Its files are stored in the workspace under
``uploads/<job id>/files/`` with sanitised names (:func:`safe_filename`: no folders, no ``..``, no control
characters), an optional mapping file under ``uploads/<job id>/mapping/``. :func:`validate_upload` runs
:func:`salesfolio.ingest.run_import` with ``dry_run=True`` on exactly those files and records the report
(status ``validated``, or ``failed`` when the report has errors). Nothing is loaded until :func:`confirm_import`,
which refers to the job by its id (never to a path sent by a browser) and runs the real import of the same stored
files, all or nothing. :func:`discard_import` drops a validated upload. The stored files are deleted as soon as
they cannot be used any more (after a failed check, a load or a discard); the job row keeps the names, sizes and
reports. Every step writes an audit entry (``import.upload``, ``import.confirm``, ``import.discard``).

Imports of one process run one at a time (a lock), and a job changes state only from ``validated``.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from salesfolio.ingest import ImportReport, run_import
from salesfolio.ingest.sniff import DATA_EXTENSIONS
from salesfolio.services import audit
from salesfolio.store.models import ImportJob, utcnow
from salesfolio.warehouse import Warehouse, WarehouseError
from salesfolio.workspace import Workspace

UPLOADS = "uploads"
JOB_ID_PATTERN = r"^[0-9a-f]{16}$"
MAX_FILES = 20
"""Data files per upload (each within the size limit)."""
MAX_NAME = 120
"""Characters kept of an uploaded file's name (the extension is kept whole)."""
MAPPING_EXTENSIONS = (".toml",)
ACCEPTED = (*DATA_EXTENSIONS, *(f"{ext}{wrap}" for ext in DATA_EXTENSIONS for wrap in (".gz",)), ".zip")
"""File endings accepted for data files: the importer's formats, optionally gzip-compressed, or a zip."""

_JOB_ID = re.compile(JOB_ID_PATTERN)
_UNSAFE = re.compile(r"[^\w.\- ()+,=@]", re.UNICODE)
_IMPORT_LOCK = threading.Lock()
T = TypeVar("T")


class ImportJobError(RuntimeError):
    """A step on an import job is not possible now; ``message`` is English source text with ``params``."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


MSG_NOT_VALIDATED = "This upload is %(status)s; only a checked upload without errors can be loaded or discarded."
MSG_BUSY = "Another import is running; try again when it has finished."
MSG_WAREHOUSE_BUSY = "The warehouse is busy (an analysis or another program is using it); try again in a minute."
MSG_FILES_GONE = "The stored files of this upload are missing; upload them again."


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file as stored: its safe name and its size in bytes."""

    name: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as kept in ``ImportJob.files``."""
        return {"name": self.name, "size": self.size}


# -- names and places ------------------------------------------------------------------------------------------------
def new_job_id() -> str:
    """A random job id (16 hex characters) that also names the upload's folder."""
    return secrets.token_hex(8)


def is_job_id(value: str) -> bool:
    """True for a well-formed job id (anything else never reaches the file system)."""
    return bool(_JOB_ID.match(value))


def job_folder(ws: Workspace, job_id: str) -> Path:
    """``<workspace>/uploads/<job id>``; ``ValueError`` for a malformed id."""
    if not is_job_id(job_id):
        raise ValueError(f"not an import job id: {job_id!r}")
    return ws.path / UPLOADS / job_id


def files_folder(ws: Workspace, job_id: str) -> Path:
    """Where the job's data files are stored."""
    return job_folder(ws, job_id) / "files"


def mapping_folder(ws: Workspace, job_id: str) -> Path:
    """Where the job's mapping file is stored."""
    return job_folder(ws, job_id) / "mapping"


def safe_filename(name: str) -> str:
    r"""A file name that is safe to store: the last part of any path, without control characters or ``..``.

    Both ``/`` and ``\`` count as folder separators (browsers on Windows may send a whole path), characters other
    than letters, digits and ``. - _ ( ) + , = @`` and spaces become ``_``, leading dots and spaces are removed
    (no hidden files, no ``..``), Unicode is normalised to NFC and the name is cut to :data:`MAX_NAME` characters
    keeping its extension. An empty result becomes ``upload``.

    >>> safe_filename("../../etc/passwd.csv")
    'passwd.csv'
    >>> safe_filename("C:\\Users\\ala\\Sprzedaż 2024.xlsx")
    'Sprzedaż 2024.xlsx'
    >>> safe_filename("a\x00b;rm -rf.csv")
    'a_b_rm -rf.csv'
    >>> safe_filename("..")
    'upload'
    """
    text = unicodedata.normalize("NFC", name)
    text = "".join("_" if unicodedata.category(ch).startswith("C") else ch for ch in text)
    text = PureWindowsPath(PurePosixPath(text.replace("\\", "/")).name).name
    text = _UNSAFE.sub("_", text).strip().lstrip(". ")
    if not text or set(text) <= {"_", "."}:
        return "upload"
    if len(text) > MAX_NAME:
        suffix = "".join(PurePosixPath(text).suffixes)[-20:]
        text = text[: MAX_NAME - len(suffix)] + suffix
    return text


def accepted_data_file(name: str) -> bool:
    """True when ``name`` ends in a data format the importer reads (see :data:`ACCEPTED`)."""
    return name.lower().endswith(ACCEPTED)


def accepted_mapping_file(name: str) -> bool:
    """True for a mapping file name (``.toml``)."""
    return name.lower().endswith(MAPPING_EXTENSIONS)


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).ext``, ``name (3).ext``, ... when an earlier file of the upload has it."""
    if name.casefold() not in taken:
        taken.add(name.casefold())
        return name
    path = PurePosixPath(name)
    suffix = "".join(path.suffixes)
    stem = name[: len(name) - len(suffix)] if suffix else name
    n = 2
    while f"{stem} ({n}){suffix}".casefold() in taken:
        n += 1
    chosen = f"{stem} ({n}){suffix}"
    taken.add(chosen.casefold())
    return chosen


def remove_files(ws: Workspace, job_id: str) -> None:
    """Delete the job's stored files (its folder); nothing happens when they are gone already."""
    shutil.rmtree(job_folder(ws, job_id), ignore_errors=True)


# -- the warehouse -----------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def writable_warehouse(ws: Workspace, retry_seconds: float = 20.0) -> Iterator[Warehouse]:
    """The warehouse opened for writing, retried for ``retry_seconds`` while another connection blocks it.

    DuckDB refuses a read-write connection while a read-only one of the same process (a page being rendered) or
    another process holds the file; pages hold theirs briefly.
    """
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            warehouse = ws.warehouse()
            break
        except WarehouseError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    try:
        yield warehouse
    finally:
        warehouse.close()


def _locked(call: Callable[[], T]) -> T:
    if not _IMPORT_LOCK.acquire(timeout=1.0):
        raise ImportJobError(MSG_BUSY)
    try:
        return call()
    finally:
        _IMPORT_LOCK.release()


def _import(ws: Workspace, job: ImportJob, *, dry_run: bool, retry_seconds: float) -> ImportReport:
    folder = files_folder(ws, job.id)
    paths = [folder / str(f["name"]) for f in job.files]
    if not all(p.is_file() for p in paths):
        raise ImportJobError(MSG_FILES_GONE)
    mapping = mapping_folder(ws, job.id) / job.mapping_name if job.mapping_name else None
    try:
        with writable_warehouse(ws, retry_seconds) as warehouse:
            return run_import(warehouse, paths, table=job.table, mapping=mapping, dry_run=dry_run)
    except WarehouseError:
        raise ImportJobError(MSG_WAREHOUSE_BUSY) from None


# -- the steps ---------------------------------------------------------------------------------------------------------
def validate_upload(
    ws: Workspace,
    job_id: str,
    files: list[StoredFile],
    *,
    table: str | None = None,
    mapping_name: str | None = None,
    username: str | None = None,
    retry_seconds: float = 20.0,
) -> ImportJob:
    """Check the stored files with a dry run and record the job (``validated`` or ``failed``); commits.

    ``files`` are already in :func:`files_folder` (the web app streams them there); ``mapping_name`` names a
    file in :func:`mapping_folder`. The files of a failed check are deleted at once (they cannot be loaded).
    """
    job = ImportJob(
        id=job_id,
        created_by=username,
        created_at=utcnow(),
        status="validated",
        table=table or None,
        mapping_name=mapping_name,
        files=[f.as_dict() for f in files],
        report={},
    )
    report = _locked(lambda: _import(ws, job, dry_run=True, retry_seconds=retry_seconds))
    job.status = "validated" if report.ok else "failed"
    job.report = report.to_dict()
    with ws.sessions.begin() as db:
        db.add(job)
        audit.record(
            db,
            "import.upload",
            username=username,
            object_type="import_job",
            object_id=job_id,
            files=job.files,
            table=job.table,
            mapping=mapping_name,
            status=job.status,
            errors=len(report.errors),
        )
    if not report.ok:
        remove_files(ws, job_id)
    return job


def _validated(db: Session, job_id: str) -> ImportJob:
    job = db.get(ImportJob, job_id)
    if job is None:
        raise LookupError(job_id)
    if job.status != "validated":
        raise ImportJobError(MSG_NOT_VALIDATED, status=job.status)
    return job


def confirm_import(
    ws: Workspace, job_id: str, *, username: str | None = None, retry_seconds: float = 20.0
) -> ImportJob:
    """Load a validated upload into the warehouse (the real import of its stored files); commits.

    The job becomes ``loaded`` with the load report, or ``failed`` when the load found errors (the data changed
    since the check, for example); either way its files are deleted. ``LookupError`` for an unknown job,
    :class:`ImportJobError` for a job that is not ``validated`` or while another import runs.
    """

    def load() -> ImportJob:
        with ws.sessions() as db:
            job = _validated(db, job_id)
        report = _import(ws, job, dry_run=False, retry_seconds=retry_seconds)
        with ws.sessions.begin() as db:
            row = _validated(db, job_id)
            row.status = "loaded" if report.ok else "failed"
            row.load_report = report.to_dict()
            row.finished_at = utcnow()
            row.finished_by = username
            audit.record(
                db,
                "import.confirm",
                username=username,
                object_type="import_job",
                object_id=job_id,
                status=row.status,
                loaded=report.loaded,
                created=report.created,
                errors=len(report.errors),
            )
        remove_files(ws, job_id)
        return row

    return _locked(load)


def discard_import(ws: Workspace, job_id: str, *, username: str | None = None) -> ImportJob:
    """Drop a validated upload: status ``discarded``, files deleted, audit entry; commits."""

    def discard() -> ImportJob:
        with ws.sessions.begin() as db:
            job = _validated(db, job_id)
            job.status = "discarded"
            job.finished_at = utcnow()
            job.finished_by = username
            audit.record(
                db, "import.discard", username=username, object_type="import_job", object_id=job_id, files=job.files
            )
        remove_files(ws, job_id)
        return job

    return _locked(discard)


def list_jobs(db: Session, limit: int = 50) -> list[ImportJob]:
    """The newest import jobs, newest first."""
    return list(db.scalars(select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)))


def get_job(db: Session, job_id: str) -> ImportJob | None:
    """The job with this id, None when there is none (or the id is malformed)."""
    return db.get(ImportJob, job_id) if is_job_id(job_id) else None

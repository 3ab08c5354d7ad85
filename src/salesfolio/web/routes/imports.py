"""The Import page (admins only): upload files, read the validation report, then load or discard them.

Uploading streams each file straight to the workspace's ``uploads/<job id>/`` folder and counts its bytes while
it arrives: a file above ``SALESFOLIO_MAX_UPLOAD_MB`` (:attr:`salesfolio.config.Settings.max_upload_mb`) stops the
upload with 413 and a message naming the file and the limit, and nothing of the upload is kept. The page's form
sends the CSRF token as the ``X-CSRF-Token`` header (HTMX), so the body is never parsed before this route reads it;
a browser without JavaScript sends it as a form field, the app-wide CSRF check then parses the form first
(Starlette spools files above 1 MB to temporary files, so memory stays bounded) and the sizes are checked after.

Then :func:`salesfolio.services.imports.validate_upload` runs the dry run and the report page shows, per file,
how it was read and understood, and every error with its row, column and value. **Load** and **Discard** are
POSTs that name the job by its id; the files they use are the stored ones. After a load the page offers to run
the analysis (a form to ``/analyses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from salesfolio.contract import LOAD_ORDER
from salesfolio.services import imports as service
from salesfolio.store.models import User
from salesfolio.web.deps import DbSession, LangDep, get_workspace, require_role
from salesfolio.web.i18n import N_, Lang
from salesfolio.web.security import CSRF_HEADER
from salesfolio.web.templating import NavItem, path_for, render

router = APIRouter(include_in_schema=False)
NAV = [NavItem("imports", N_("Import"), ("admin",), "upload")]
Admin = Annotated[User, Depends(require_role("admin"))]
JobId = Annotated[str, PathParam(pattern=service.JOB_ID_PATTERN, description="Import job id (16 hex characters).")]

MIB = 1024 * 1024
FIELD_LIMIT = 1000
"""Bytes kept of a text field of the upload form (the table name, the CSRF token)."""
DRAIN_LIMIT = 64 * MIB
"""After a refused upload, at most this much of the rest of the body is read (and thrown away) so the browser
receives the answer instead of a reset connection."""

MSG_TOO_LARGE = N_("%(file)s is larger than the limit of %(limit)s MB per file; nothing was stored.")
MSG_REQUEST_TOO_LARGE = N_("The upload is larger than %(limit)s MB per file allows; nothing was stored.")
MSG_BAD_TYPE = N_(
    "%(file)s: files of this type are not accepted; upload CSV, TXT, XLSX, XLS, Parquet (optionally .gz) or ZIP."
)
MSG_BAD_MAPPING = N_("%(file)s: the mapping file must be a .toml file.")
MSG_NO_FILES = N_("Choose at least one data file.")
MSG_TOO_MANY = N_("Upload at most %(max)s files at once.")
MSG_BAD_TABLE = N_("Choose a table from the list.")
MSG_BAD_FORM = N_("The upload could not be read; try again.")
MSG_LOADED = N_("Loaded into the warehouse. Run the analysis to see the new data on the pages.")
MSG_DISCARDED = N_("The upload was discarded; its files were deleted.")
SERVICE_MESSAGES = (
    N_("This upload is %(status)s; only a checked upload without errors can be loaded or discarded."),
    N_("Another import is running; try again when it has finished."),
    N_("The warehouse is busy (an analysis or another program is using it); try again in a minute."),
    N_("The stored files of this upload are missing; upload them again."),
)
"""The messages of :class:`salesfolio.services.imports.ImportJobError`, marked for translation here."""
STATUS_LABELS = {
    "validated": N_("checked, waiting"),
    "failed": N_("errors"),
    "loaded": N_("loaded"),
    "discarded": N_("discarded"),
}
FLASH_KEY = "import_flash"


class UploadRejected(Exception):
    """The upload cannot be taken: HTTP ``status`` and a message (English source text) with its parameters."""

    def __init__(self, status: int, message: str, **params: str) -> None:
        super().__init__(message % params if params else message)
        self.status = status
        self.message = message
        self.params = params

    def text(self, lang: Lang) -> str:
        """The message in the user's language."""
        return lang.gettext(self.message) % self.params if self.params else lang.gettext(self.message)


@dataclass
class ReceivedUpload:
    """What the upload form brought: the stored data files, the mapping file's name and the chosen table."""

    files: list[service.StoredFile] = field(default_factory=list)
    mapping: str | None = None
    table: str = ""


class _Receiver:
    """Writes the parts of a multipart body to the job's folders as they arrive, enforcing the limits."""

    def __init__(self, files_dir: Path, mapping_dir: Path, limit: int) -> None:
        self.files_dir = files_dir
        self.mapping_dir = mapping_dir
        self.limit = limit
        self.result = ReceivedUpload()
        self._taken: set[str] = set()
        self._fields: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._text: bytearray | None = None
        self._text_name = ""
        self._handle: IO[bytes] | None = None
        self._name = ""
        self._size = 0
        self._is_mapping = False
        self._n_fields = 0

    # data files and the mapping file -------------------------------------------------------------------------------
    def open_file(self, field_name: str, filename: str) -> IO[bytes] | None:
        """Check the part's name and type and open its target (None: an empty file input, ignored)."""
        if not filename:
            return None
        name = service.safe_filename(filename)
        if field_name == "mapping":
            if not service.accepted_mapping_file(name):
                raise UploadRejected(400, MSG_BAD_MAPPING, file=name)
            if self.result.mapping is not None:
                raise UploadRejected(400, MSG_BAD_FORM)
            self.mapping_dir.mkdir(parents=True, exist_ok=True)
            self.result.mapping = name
            self._is_mapping = True
            target = self.mapping_dir / name
        elif field_name == "files":
            if not service.accepted_data_file(name):
                raise UploadRejected(400, MSG_BAD_TYPE, file=name)
            if len(self.result.files) >= service.MAX_FILES:
                raise UploadRejected(400, MSG_TOO_MANY, max=str(service.MAX_FILES))
            name = service.unique_name(name, self._taken)
            self.files_dir.mkdir(parents=True, exist_ok=True)
            self._is_mapping = False
            target = self.files_dir / name
        else:
            return None
        self._name, self._size = name, 0
        return target.open("xb")

    def write(self, data: bytes) -> None:
        """Append to the open file, refusing it as soon as it passes the limit."""
        if self._handle is None:
            return
        self._size += len(data)
        if self._size > self.limit:
            raise UploadRejected(413, MSG_TOO_LARGE, file=self._name, limit=str(self.limit // MIB))
        self._handle.write(data)

    def close_file(self) -> None:
        """Close the open file and record it."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        if not self._is_mapping:
            self.result.files.append(service.StoredFile(self._name, self._size))

    def store(self, field_name: str, filename: str, source: IO[bytes]) -> None:
        """Store a part that was already received whole (the no-JavaScript path), in chunks."""
        self._handle = self.open_file(field_name, filename)
        if self._handle is None:
            return
        source.seek(0)
        while chunk := source.read(MIB):
            self.write(chunk)
        self.close_file()

    def abort(self) -> None:
        """Close an open file after a failure (the caller deletes the folder)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # python-multipart callbacks -----------------------------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._disposition = b""
        self._text = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _kind, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options:
            self._handle = self.open_file(name, options[b"filename"].decode("utf-8", "replace"))
        else:
            self._n_fields += 1
            if self._n_fields > 50:
                raise UploadRejected(400, MSG_BAD_FORM)
            self._text, self._text_name = bytearray(), name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            if len(self._text) + (end - start) > FIELD_LIMIT:
                raise UploadRejected(400, MSG_BAD_FORM)
            self._text.extend(data[start:end])
        else:
            self.write(data[start:end])

    def on_part_end(self) -> None:
        if self._text is not None:
            self._fields[self._text_name] = self._text.decode("utf-8", "replace")
            self._text = None
        else:
            self.close_file()

    def finish(self) -> ReceivedUpload:
        """The upload, once the body has been read."""
        self.result.table = self._fields.get("table", "").strip()
        return self.result


async def _stream_upload(request: Request, receiver: _Receiver) -> ReceivedUpload:
    """Parse the multipart body chunk by chunk into ``receiver`` (nothing is held in memory beyond a chunk)."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadRejected(400, MSG_BAD_FORM)
    callbacks: Mapping[str, Any] = {
        "on_part_begin": receiver.on_part_begin,
        "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end,
        "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value,
        "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    stream = request.stream()
    try:
        async for chunk in stream:
            parser.write(chunk)
        parser.finalize()
    except UploadRejected:
        receiver.abort()
        drained = 0
        async for chunk in stream:  # let the browser finish sending, so it reads the answer
            drained += len(chunk)
            if drained > DRAIN_LIMIT:
                break
        raise
    except Exception as exc:  # a malformed body
        receiver.abort()
        raise UploadRejected(400, MSG_BAD_FORM) from exc
    return receiver.finish()


async def _parsed_upload(request: Request, receiver: _Receiver) -> ReceivedUpload:
    """The no-JavaScript path: the form was parsed by the CSRF check; copy its files, checking their sizes."""
    form = await request.form()
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.size is not None and value.size > receiver.limit:
                name = service.safe_filename(value.filename or "")
                raise UploadRejected(413, MSG_TOO_LARGE, file=name, limit=str(receiver.limit // MIB))
            await run_in_threadpool(receiver.store, key, value.filename or "", value.file)
    table = form.get("table")
    receiver.result.table = table.strip() if isinstance(table, str) else ""
    return receiver.result


# -- pages ----------------------------------------------------------------------------------------------------------
def _page(
    request: Request,
    db: DbSession,
    *,
    job: Any = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    workspace = get_workspace(request)
    context = {
        "jobs": service.list_jobs(db),
        "job": job,
        "error": error,
        "flash": request.session.pop(FLASH_KEY, None),
        "tables": LOAD_ORDER,
        "status_labels": STATUS_LABELS,
        "max_mb": workspace.settings.max_upload_mb,
        "max_files": service.MAX_FILES,
        "accepted": ", ".join(service.ACCEPTED),
        "as_of": workspace.as_of().isoformat(),
    }
    return render(request, "imports.html", context, status_code=status_code)


@router.get("/imports", name="imports")
def imports_page(request: Request, db: DbSession, user: Admin) -> Response:
    """The upload form and the history of uploads."""
    return _page(request, db)


def _refuse(request: Request, db: DbSession, lang: Lang, rejected: UploadRejected) -> Response:
    if request.headers.get("HX-Request") == "true":
        # HTMX swaps only 2xx answers: the message goes next to the form, the real status in a header.
        context = {"error": rejected.text(lang)}
        headers = {"X-Upload-Status": str(rejected.status)}
        return render(request, "_import_feedback.html", context, headers=headers)
    return _page(request, db, error=rejected.text(lang), status_code=rejected.status)


@router.post("/imports", name="imports_upload")
async def upload(request: Request, db: DbSession, user: Admin, lang: LangDep) -> Response:
    """Store the uploaded files, check them with a dry run and show the report (nothing is loaded)."""
    workspace = get_workspace(request)
    limit = workspace.settings.max_upload_mb * MIB
    job_id = service.new_job_id()
    receiver = _Receiver(service.files_folder(workspace, job_id), service.mapping_folder(workspace, job_id), limit)
    try:
        declared = int(request.headers.get("content-length") or 0)
        if declared > service.MAX_FILES * limit + 2 * MIB:
            raise UploadRejected(413, MSG_REQUEST_TOO_LARGE, limit=str(limit // MIB))
        if request.headers.get(CSRF_HEADER):
            received = await _stream_upload(request, receiver)
        else:
            received = await _parsed_upload(request, receiver)
        if not received.files:
            raise UploadRejected(400, MSG_NO_FILES)
        if received.table and received.table not in LOAD_ORDER:
            raise UploadRejected(400, MSG_BAD_TABLE)
    except UploadRejected as rejected:
        receiver.abort()
        service.remove_files(workspace, job_id)
        return _refuse(request, db, lang, rejected)
    except BaseException:
        receiver.abort()
        service.remove_files(workspace, job_id)
        raise
    try:
        job = await run_in_threadpool(
            service.validate_upload,
            workspace,
            job_id,
            received.files,
            table=received.table or None,
            mapping_name=received.mapping,
            username=user.username,
        )
    except service.ImportJobError as exc:
        service.remove_files(workspace, job_id)
        return _refuse(request, db, lang, UploadRejected(409, exc.message, **exc.params))
    except BaseException:
        service.remove_files(workspace, job_id)
        raise
    target = path_for(request, "import_job", job_id=job.id)
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _job_or_404(db: DbSession, job_id: str) -> Any:
    job = service.get_job(db, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="No such import")
    return job


@router.get("/imports/{job_id}", name="import_job")
def import_job(request: Request, db: DbSession, user: Admin, job_id: JobId) -> Response:
    """The validation report of one upload, with Load and Discard while it waits."""
    return _page(request, db, job=_job_or_404(db, job_id))


def _act(request: Request, db: DbSession, lang: Lang, job_id: str, action: Any, done: str) -> Response:
    _job_or_404(db, job_id)
    try:
        action(get_workspace(request), job_id, username=request.state.user.username)
    except service.ImportJobError as exc:
        db.expire_all()
        text = lang.gettext(exc.message) % exc.params if exc.params else lang.gettext(exc.message)
        return _page(request, db, job=_job_or_404(db, job_id), error=text, status_code=409)
    db.expire_all()
    if _job_or_404(db, job_id).status in ("loaded", "discarded"):
        request.session[FLASH_KEY] = lang.gettext(done)
    return RedirectResponse(path_for(request, "import_job", job_id=job_id), status_code=303)


@router.post("/imports/{job_id}/confirm", name="import_confirm")
def import_confirm(request: Request, db: DbSession, user: Admin, lang: LangDep, job_id: JobId) -> Response:
    """Load the checked upload into the warehouse (the stored files of this job, all or nothing)."""
    return _act(request, db, lang, job_id, service.confirm_import, MSG_LOADED)


@router.post("/imports/{job_id}/discard", name="import_discard")
def import_discard(request: Request, db: DbSession, user: Admin, lang: LangDep, job_id: JobId) -> Response:
    """Drop the checked upload and delete its files."""
    return _act(request, db, lang, job_id, service.discard_import, MSG_DISCARDED)

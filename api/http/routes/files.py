"""``GET /files/{key}``: serves local-disk objects to whoever holds a valid signed URL.

The URL itself is the credential (``LocalObjectStore.signed_url``): no session or API key is
needed, so an ``<audio src>`` or a seed example's ``audio_url`` works as is. Responses support
HTTP Range requests (206), which browsers use to seek in audio, and are marked
``Cache-Control: private`` because each object belongs to one user.

With the S3 backend objects are downloaded from presigned bucket URLs, so this route answers 404.
"""

from __future__ import annotations

import math
import os
import stat
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import FileResponse

from api.errors import InvalidInputError
from api.http.deps import Context, CurrentPrincipal
from api.http.presenters import envelope, iso
from api.http.routing import Router
from api.storage import get_object_store
from api.storage.base import ObjectStore, attachment_disposition
from api.storage.keys import content_type_for_key
from api.storage.local import LocalObjectStore
from api.storage.service import get_owned_object, object_url

router = Router(tags=["files"])

INVALID_LINK = "Invalid or expired link"
FILE_NOT_FOUND = "File not found"


def object_store(request: Request) -> ObjectStore:
    """The store of the app's settings (``app.state.context``), else of the process settings.

    A dependency, so tests and embedding apps can substitute their own store.
    """
    context = getattr(request.app.state, "context", None)
    settings = getattr(context, "settings", None)
    return get_object_store(settings)


@router.get(
    "/files/{key:path}",
    response_class=FileResponse,
    responses={
        206: {"description": "The requested byte range"},
        403: {"description": "Missing, tampered or expired signature"},
        404: {"description": "No such file"},
        416: {"description": "Requested range not satisfiable"},
    },
)
@router.head("/files/{key:path}", include_in_schema=False)
def download_file(
    key: str,
    store: Annotated[ObjectStore, Depends(object_store)],
    expires: str | None = None,
    sig: str | None = None,
    filename: str | None = None,
) -> FileResponse:
    """Download a stored object through a signed link."""
    if not isinstance(store, LocalObjectStore):
        raise HTTPException(status_code=404, detail=FILE_NOT_FOUND)
    # The signature is checked before the key is even looked at, so unsigned requests learn
    # nothing about which objects exist.
    if not store.verify_signature(key, expires, sig, filename=filename):
        raise HTTPException(status_code=403, detail=INVALID_LINK)
    try:
        path = store.path_for(key)
        stat_result = os.stat(path)
    except (InvalidInputError, FileNotFoundError, NotADirectoryError) as exc:
        raise HTTPException(status_code=404, detail=FILE_NOT_FOUND) from exc
    if not stat.S_ISREG(stat_result.st_mode):
        raise HTTPException(status_code=404, detail=FILE_NOT_FOUND)

    # verify_signature succeeded, so expires is an integer in the future.
    seconds_left = max(0, math.floor(int(expires or 0) - time.time()))
    headers = {
        "Cache-Control": f"private, max-age={seconds_left}",
        "X-Content-Type-Options": "nosniff",
    }
    if filename is not None:
        headers["Content-Disposition"] = attachment_disposition(filename)
    # FileResponse streams from disk in chunks and implements Range/If-Range (206, 416).
    return FileResponse(
        path,
        media_type=content_type_for_key(key),
        headers=headers,
        stat_result=stat_result,
    )


def public_base_url(request: Request) -> str:
    """Where links should point: the configured public URL, else the address the caller used."""
    context = getattr(request.app.state, "context", None)
    configured = getattr(getattr(context, "settings", None), "public_base_url", "")
    return (configured or str(request.base_url)).rstrip("/")


@router.get("/api/files/{key:path}", tags=["files"])
def describe_owned_file(
    key: str,
    request: Request,
    principal: CurrentPrincipal,
    context: Context,
    store: Annotated[ObjectStore, Depends(object_store)],
) -> dict[str, Any]:
    """A fresh signed download URL for one of the caller's files (someone else's key is a 404)."""
    with context.db.read() as session:
        stored = get_owned_object(session, user_id=principal.user_id, key=key)
    url = object_url(store, stored.key, base_url=public_base_url(request))
    return envelope(
        {
            "key": stored.key,
            "kind": stored.kind,
            "content_type": stored.content_type,
            "size_bytes": stored.size_bytes,
            "created_at": iso(stored.created_at),
            "url": url,
        }
    )

"""Request bodies that come as JSON *or* as a form with an uploaded file (seed 001's audio routes).

FastAPI binds one body type per route, so such routes take the ``Request`` and call
``parse_body``: the ``Content-Type`` decides how the body is read, and both shapes are
validated by the same pydantic model, so a field means the same thing whichever way it came.

- ``application/json`` (or no content type): a JSON object.
- ``multipart/form-data`` / ``application/x-www-form-urlencoded``: text fields, plus at most
  one file part (``file`` by default) read with ``read_upload`` under a size limit (413 as soon
  as it passes). Form fields are text: empty ones count as absent, list fields take repeated
  parts and comma-separated values (``language_hints=en,fr``), and pydantic reads
  ``"true"``/``"3"`` as a bool/int.
- anything else: 415.

Validation failures raise ``RequestValidationError``, so they are rendered in the route's
dialect exactly like FastAPI's own (400 with the field named). ``body_docs`` describes both
request bodies in OpenAPI (``openapi_extra=``), so /docs and generated clients see them.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUploadFile

from api.errors import InvalidInputError, UnsupportedMediaError
from api.http.speech import read_upload

Fields = TypeVar("Fields", bound=BaseModel)

JSON_TYPES = ("application/json",)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
MAX_FORM_FIELDS = 50


@dataclass(frozen=True)
class Parsed(Generic[Fields]):
    """A validated body; ``file`` holds the uploaded bytes (None when no file was sent)."""

    fields: Fields
    file: bytes | None = None
    filename: str | None = None
    multipart: bool = False


FileLimit = int | Callable[[Any], int]


async def parse_body(
    request: Request,
    model: type[Fields],
    *,
    file_limit: FileLimit = 0,
    file_field: str = "file",
) -> Parsed[Fields]:
    """Read the body as JSON or form data into ``model``, and the uploaded file if any.

    ``file_limit`` is the file's size cap in bytes, or a function of the validated fields
    (e.g. the chosen model's limit); 0 means no file is accepted.
    """
    kind = _media_type(request)
    if kind in FORM_TYPES:
        # The context closes the spooled upload files, whatever happens while reading them.
        async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
            fields = _validate(model, _form_values(model, form, file_field))
            upload = form.get(file_field)
            if upload is None or isinstance(upload, str):
                return Parsed(fields, multipart=True)
            if not file_limit:
                raise InvalidInputError("This request takes no file", param=file_field)
            limit = file_limit(fields) if callable(file_limit) else file_limit
            data = await read_upload(upload, limit)
            return Parsed(fields, data, upload.filename or None, multipart=True)
    if kind in JSON_TYPES or not kind:
        return Parsed(_validate(model, await _json_object(request)))
    raise UnsupportedMediaError(
        "Content-Type must be application/json or multipart/form-data", param="Content-Type"
    )


def _media_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    media = raw.split(";", 1)[0].strip().lower()
    return "application/json" if media.endswith("+json") else media


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None
    if not isinstance(value, dict):
        raise RequestValidationError(
            [{"type": "model_type", "loc": ("body",), "msg": "The body must be a JSON object"}]
        )
    return value


def _is_list(annotation: Any) -> bool:
    """Whether a field is a list (``list[str]``, ``list[int] | None`` …)."""
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


def _form_values(model: type[BaseModel], form: FormData, file_field: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        parts = form.getlist(key)
        if any(isinstance(part, StarletteUploadFile) for part in parts):
            raise RequestValidationError(
                [{"type": "string_type", "loc": ("body", key), "msg": "must be text, not a file"}]
            )
        texts = [part.strip() for part in parts if isinstance(part, str)]
        if _is_list(info.annotation):
            items = [item.strip() for text in texts for item in text.split(",")]
            if items and any(items):
                values[key] = [item for item in items if item]
        elif texts and texts[-1]:
            values[key] = texts[-1]
    for key, part in form.multi_items():
        if isinstance(part, StarletteUploadFile) and key != file_field:
            raise InvalidInputError(
                f"Unexpected file part '{key[:40]}'; send the file as '{file_field}'", param=key
            )
    return values


def _validate(model: type[Fields], values: dict[str, Any]) -> Fields:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
                for e in error.errors(include_url=False)
            ]
        ) from None


# --- OpenAPI ---------------------------------------------------------------------------------


def body_docs(
    json_model: type[BaseModel] | None,
    form_model: type[BaseModel] | None = None,
    *,
    file_field: str = "file",
    file_description: str = "The audio file",
    file_required: bool = True,
    json_example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON body and/or a multipart body with a file part."""
    content: dict[str, Any] = {}
    if json_model is not None:
        schema = _inline_schema(json_model)
        entry: dict[str, Any] = {"schema": schema}
        if json_example is not None:
            entry["example"] = json_example
        content["application/json"] = entry
    if form_model is not None:
        schema = _inline_schema(form_model)
        properties = dict(schema.get("properties", {}))
        for name, prop in list(properties.items()):
            if _schema_is_array(prop):  # a form sends lists as comma-separated text
                properties[name] = {
                    "type": "string",
                    "title": prop.get("title", name),
                    "description": (prop.get("description", "") + " (comma-separated)").strip(),
                }
        properties[file_field] = {
            "type": "string",
            "format": "binary",
            "description": file_description,
        }
        schema["properties"] = properties
        required = list(schema.get("required", []))
        if file_required:
            required.append(file_field)
        if required:
            schema["required"] = required
        content["multipart/form-data"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    if "$defs" in schema:  # body models stay flat so their schema can be inlined
        raise ValueError(f"{model.__name__} must not nest models")
    return schema


def _schema_is_array(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "array" or any(
        option.get("type") == "array" for option in prop.get("anyOf", [])
    )

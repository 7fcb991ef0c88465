"""Errors as JSON: ``{"error": {"code", "message", "field"?}}``, with the HTTP status that fits.

400 for malformed JSON and invalid fields, 404 for unknown ids and routes, 409 for requests the current state
forbids (illegal transitions, held locks), 401 without a valid token. Bad input never becomes a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from orcha.errors import ConflictError, InvalidInputError, NotFoundError, OrchaError, StoreError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    return response


def status_of(exc: OrchaError) -> int:
    if isinstance(exc, InvalidInputError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, StoreError):
        return 503
    return 500


def install(app: Quart) -> None:
    @app.errorhandler(OrchaError)
    async def orcha_error(exc: OrchaError) -> Response:
        field = exc.field if isinstance(exc, InvalidInputError) else None
        return error_response(status_of(exc), exc.code, str(exc), field)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "orcha hit an unexpected error; see its log")

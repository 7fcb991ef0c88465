"""Errors as JSON: ``{"error": {"code", "message", "field"?}}``, with the HTTP status that fits.

400 for malformed JSON and invalid fields, 404 for unknown ids and routes, 405 (with ``Allow``) for a method a
route does not take, 409 for requests the current state forbids (illegal transitions, held locks), 413 for a
body past ``MAX_CONTENT_LENGTH``; the security gate answers 401/403/415/421 in the same format. Bad input
never becomes a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from orcha.errors import ConflictError, InvalidInputError, NotFoundError, OrchaError, StoreError

log = logging.getLogger(__name__)

CODES = {
    400: "invalid_input",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
"""The error codes of the HTTP errors Quart raises itself (others are the exception's name)."""


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
        status = exc.code or 500
        code = CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
        response = error_response(status, code, exc.description or exc.name or "error")
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "orcha hit an unexpected error; see its log")

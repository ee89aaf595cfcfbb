"""Every API error is {"error": {"code", "message"}} with the right status."""
from __future__ import annotations

from flask import jsonify


def json_error(status: int, code: str, message: str):  # type: ignore[no-untyped-def]
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bank-crm"'
    return response

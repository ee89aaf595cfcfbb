"""Liveness and readiness for load balancers and the scheduler's supervisor."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.extensions import db

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify(status="ok")

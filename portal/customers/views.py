"""Customer pages: search, and (next) the 360 view."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy import select

from integration.models import Customer
from portal.extensions import db
from portal.scope import restrict
from portal.web import current_scope

blueprint = Blueprint("customers", __name__)


@blueprint.get("/")
@login_required
def search():  # type: ignore[no-untyped-def]
    q = (request.args.get("q") or "").strip()[:100]
    rows = []
    if q:
        rows = db.session.scalars(
            restrict(select(Customer).where(Customer.name == q).limit(50), current_scope())
        ).all()
    return render_template("customers/search.html", q=q, rows=rows)

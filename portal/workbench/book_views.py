"""The book of business (saved views, Excel export, bulk reassignment) and the team view."""
from __future__ import annotations

import tempfile
from decimal import Decimal
from typing import IO, Any, Iterator

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from integration.bank_calendar import bank_today
from portal.customers.services import parse_int, round_money
from portal.errors import DomainError, Forbidden, NotFound
from portal.extensions import db
from portal.labels import label
from portal.pages import money
from portal.pages import say as pages_say
from portal.web import actor, current_scope
from portal.workbench import book, export, saved_views, team
from portal.workbench.book import BookError, BookQuery

blueprint = Blueprint("book", __name__)

# The refusals of portal.workbench.book, worded for people (the API says them in English).
PROBLEMS = {
    "bad_value": _l("The value “%(value)s” of %(field)s is not valid."),
    "aum_range": _l("The AUM range is empty: “from” is above “to”."),
    "branch_out_of_scope": _l("Branch %(value)s is not one of your branches."),
    "band_gone": _l("The contact policy no longer has a band from %(value)s."),
    "rm_filter": _l("Only branch managers filter by RM."),
    "rm_out_of_scope": _l("%(value)s is not an RM or adviser of your branches."),
    "unknown_field": _l("The filter %(field)s no longer exists."),
    "too_many": _l("%(total)s customers match; at most %(limit)s can be reassigned at once. "
                   "Narrow the filters."),
    "none_chosen": _l("Choose at least one customer."),
    "reason_required": _l("Give a reason for the reassignment."),
    "reason_too_long": _l("The reason may have at most %(limit)s characters."),
    "target_out_of_scope": _l("Choose an active RM or adviser of your branches."),
    "view_name": _l("Give the view a name."),
    "view_name_long": _l("The name may have at most %(limit)s characters."),
    "too_many_views": _l("You have %(limit)s saved views already; delete one first."),
}
FIELDS = {
    "q": _l("Name starts with"), "branch": _l("Branch"), "rm": _l("Relationship manager"),
    "status": _l("Status"), "band": _l("AUM band"), "aum_min": _l("AUM from"),
    "aum_max": _l("AUM to"), "contact_age": _l("Last contact"),
    "overdue": _l("Overdue for contact"), "sort": _l("Sort"), "dir": _l("Direction"),
    "page": _l("Page"), "per_page": _l("Rows per page"), "customer_id": _l("Customer"),
}
HEADERS = {
    "id": _l("Customer id"), "name": _l("Name"), "mobile": _l("Mobile"),
    "branch_code": _l("Branch code"), "branch_name": _l("Branch"),
    "rm": _l("RM staff id"), "rm_name": _l("Relationship manager"), "status": _l("Status"),
    "aum": _l("AUM (CNY)"), "liabilities": _l("Liabilities (CNY)"),
    "as_of": _l("Balances as of"), "last_contact": _l("Last contact"),
    "next_task": _l("Next task due"), "open_alerts": _l("Open alerts"),
    "overdue": _l("Overdue for contact"),
}
CONTACT_AGES = {"never": _l("Never contacted"), "30": _l("Not in 30 days"),
                "90": _l("Not in 90 days"), "180": _l("Not in 180 days")}
SORT_LABELS = {
    "name": _l("Name"), "branch": _l("Branch"), "rm": _l("Relationship manager"),
    "status": _l("Status"), "aum": _l("AUM"), "liabilities": _l("Liabilities"),
    "last_contact": _l("Last contact"), "next_task": _l("Next task"),
    "alerts": _l("Open alerts"), "overdue": _l("Overdue for contact"),
}


@blueprint.context_processor
def formatting() -> dict[str, Any]:
    return {"amount": amount}


def amount(value: Decimal | None) -> str:
    """Money on these pages: rounded by the one helper, then formatted for the locale."""
    return money(round_money(value)) if value is not None else "—"


def say(problem: DomainError) -> str:
    """A refusal in the reader's language."""
    if isinstance(problem, BookError) and problem.reason in PROBLEMS:
        params = dict(problem.params)
        if "field" in params:
            params["field"] = str(FIELDS.get(params["field"], params["field"]))
        return str(PROBLEMS[problem.reason]) % params
    return pages_say(problem)


def no_store(response: Any) -> Any:
    """Pages with personal data are not kept by browsers or proxies."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _query_args(source: Any) -> dict[str, str]:
    return {name: source.get(name) for name in (*book.FILTERS, "sort", "dir")
            if source.get(name) not in (None, "")}


# -- the book ------------------------------------------------------------------------------

@blueprint.get("/book", endpoint="book")
@login_required
def book_page():  # type: ignore[no-untyped-def]
    scope = current_scope()
    book.check_reads_book(scope)
    session = db.session
    notes: list[str] = []
    if request.args.get("view"):
        view_id = parse_int(request.args.get("view"), "view", 0)
        view, query, problems = saved_views.apply_view(session, scope, current_user.id,
                                                       view_id)
        if problems:
            notes.append(_("The saved view “%(name)s” no longer applies in full: %(problems)s "
                           "It is shown without those filters.", name=view.name,
                           problems=" ".join(say(p) for p in problems)))
        active_view = view.id
    else:
        query, problems = book.validate(session, scope, _query_args(request.args))
        notes.extend(say(p) for p in problems)
        active_view = None
    page = parse_int(request.args.get("page"), "page", 1)
    per_page = parse_int(request.args.get("per_page"), "per_page", book.PER_PAGE)
    result = book.book_page(session, scope, query, page, per_page)
    return no_store(render_template(
        "workbench/book_index.html", result=result, query=query, notes=notes,
        views=saved_views.list_views(session, current_user.id), active_view=active_view,
        branches=book.branch_choices(session, scope),
        staff=book.staff_choices(session, scope),
        targets=book.staff_choices(session, scope, active_only=True),
        policy=book.band_choices(session), band_value=book.band_value,
        manager=scope.kind == "branches", max_bulk=book.MAX_BULK,
        statuses=book.STATUSES, contact_ages=CONTACT_AGES, sort_labels=SORT_LABELS,
        max_view_name=saved_views.MAX_NAME))


@blueprint.app_template_global()
def book_sort_url(query: BookQuery, column: str) -> str:
    """The column header's link: sort by it, or flip the direction if it is the sort."""
    direction = "desc" if query.sort == column and query.dir == "asc" else "asc"
    return url_for("book.book", **{**query.filters(), "sort": column, "dir": direction})


# -- saved views ---------------------------------------------------------------------------

@blueprint.post("/book/views")
@login_required
def save_view():  # type: ignore[no-untyped-def]
    scope = current_scope()
    book.check_reads_book(scope)
    try:
        query, _problems = BookQuery.parse(_query_args(request.form))
        book.check(db.session, scope, query, book.band_choices(db.session))
        view = saved_views.save_view(db.session, current_user.id,
                                     request.form.get("name", ""), query)
    except saved_views.ViewNameTaken as exc:
        flash(_("You already have a view named “%(name)s”.", name=exc.name), "error")
        return redirect(url_for("book.book", **_query_args(request.form)), 303)
    except BookError as exc:
        flash(say(exc), "error")
        return redirect(url_for("book.book", **_query_args(request.form)), 303)
    flash(_("View “%(name)s” saved.", name=view.name), "success")
    return redirect(url_for("book.book", view=view.id), 303)


@blueprint.post("/book/views/<int:view_id>/delete")
@login_required
def delete_view(view_id: int):  # type: ignore[no-untyped-def]
    name = saved_views.get_view(db.session, current_user.id, view_id).name
    saved_views.delete_view(db.session, current_user.id, view_id)
    flash(_("View “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("book.book"), 303)


# -- export --------------------------------------------------------------------------------

@blueprint.get("/book/export.xlsx")
@login_required
def export_xlsx():  # type: ignore[no-untyped-def]
    scope = current_scope()
    book.check_reads_book(scope)
    query, _problems = BookQuery.parse(_query_args(request.args))
    # Written to a temporary file as rows are read (in memory only while small), then
    # sent a block at a time.
    target = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    words = {"yes": _("Yes"), "no": _("No")}
    try:
        export.write_book(db.session, scope, actor(), query, target,
                          headers={k: str(v) for k, v in HEADERS.items()},
                          words=lambda code: words.get(code) or label(code),
                          sheet_title=_("Book of business"))
        size = target.tell()
        target.seek(0)
    except BaseException:
        target.close()
        raise
    response = Response(_blocks(target), mimetype=XLSX)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = \
        f'attachment; filename="book-{bank_today().isoformat()}.xlsx"'
    response.headers["Cache-Control"] = "no-store"
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _blocks(source: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while block := source.read(size):
            yield block
    finally:
        source.close()


# -- bulk reassignment ---------------------------------------------------------------------

@blueprint.post("/book/reassign")
@login_required
def reassign():  # type: ignore[no-untyped-def]
    scope = current_scope()
    if scope.kind != "branches":
        raise Forbidden("only branch managers reassign customers")
    back = url_for("book.book", **_query_args(request.form))
    try:
        query, _problems = BookQuery.parse(_query_args(request.form))
        result = book.reassign_from_book(
            db.session, actor(), scope, query, request.form.getlist("customer_id"),
            all_matching=request.form.get("target_set") == "all",
            to_staff_id=request.form.get("to_staff_id", ""),
            reason=request.form.get("reason", ""))
    except NotFound:
        db.session.rollback()
        flash(_("Nothing was reassigned: some of the chosen customers are not in your "
                "branches."), "error")
        return redirect(back, 303)
    except DomainError as exc:
        db.session.rollback()
        flash(_("Nothing was reassigned: %(reason)s", reason=say(exc)), "error")
        return redirect(back, 303)
    target = book.staff_names(db.session, {result.to_staff_id}).get(result.to_staff_id)
    who = f"{target} ({result.to_staff_id})" if target else result.to_staff_id
    if result.moved:
        flash(ngettext("%(num)d customer reassigned to %(rm)s.",
                       "%(num)d customers reassigned to %(rm)s.", len(result.moved),
                       rm=who), "success")
    if result.unchanged:
        flash(ngettext("%(num)d customer was already with %(rm)s.",
                       "%(num)d customers were already with %(rm)s.", len(result.unchanged),
                       rm=who), "info")
    return redirect(back, 303)


# -- the team ------------------------------------------------------------------------------

@blueprint.get("/team", endpoint="team")
@login_required
def team_page():  # type: ignore[no-untyped-def]
    result = team.team_view(db.session, current_scope())
    return no_store(render_template("workbench/team_index.html", team=result))

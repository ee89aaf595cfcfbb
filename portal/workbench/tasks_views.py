"""Task pages: the day's agenda, the task list, a new task, one task (complete, cancel,
change)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.auth.views import _safe_next
from portal.customers.services import parse_int
from portal.errors import Conflict, DomainError, Forbidden, Invalid
from portal.extensions import db
from portal.labels import label
from portal.models import User
from portal.pages import day, say
from portal.scope import customer_in_scope
from portal.web import current_scope
from portal.workbench import reasons, tasks
from portal.workbench.models import PRIORITIES, RECURRENCES, TASK_KINDS, Task
from portal.workbench.task_rules import RULE_KINDS

blueprint = Blueprint("tasks", __name__)
PER_PAGE = 20

# The services' refusals, worded for people (the API answers with the services' text).
MESSAGES = {
    "a title is required": _l("Give the task a title."),
    "an outcome is required": _l("Describe the outcome."),
    "a due date is required": _l("Enter the due date."),
    "the due date cannot be in the past": _l("The due date cannot be in the past."),
    "an assignee is required": _l("Choose who is to do the task."),
    "only branch managers reassign tasks": _l("Only branch managers reassign tasks."),
}


@blueprint.app_context_processor
def task_helpers() -> dict[str, Any]:
    """Also used by the tasks panel on the customer 360 page."""
    return {"task_title": task_title, "task_why": reasons.describe}


def task_title(task: Task) -> str:
    """Generated tasks are titled by their rule, in the reader's language."""
    return label(task.kind) if task.kind in RULE_KINDS else task.title


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined, no-any-return]


def _say(exc: DomainError) -> str:
    found = MESSAGES.get(exc.template)
    return str(found) if found is not None else say(exc)


def no_store(body: str, status: int = 200) -> Any:
    """Pages with personal data are not kept by browsers or proxies."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _back(default: str) -> Any:
    return redirect(_safe_next(request.form.get("next")) or default)


# -- forms ---------------------------------------------------------------------------------

def _priority_choices() -> list[tuple[str, str]]:
    return [(p, label(p)) for p in PRIORITIES]


class TaskForm(FlaskForm):
    title = StringField(_l("Title"), validators=[
        InputRequired(message=_l("Give the task a title.")),
        Length(max=tasks.MAX_TITLE, message=_l("At most %(max)d characters."))])
    customer = IntegerField(_l("Customer id"), validators=[
        Optional(), NumberRange(min=1, max=2**31 - 1, message=_l("Enter a customer id."))])
    assignee = SelectField(_l("Assignee"), validate_choice=False)
    due_date = DateField(_l("Due date"), validators=[
        InputRequired(message=_l("Enter the due date."))])
    priority = SelectField(_l("Priority"), default="normal")
    recurrence = SelectField(_l("Repeats"), default="")
    note = TextAreaField(_l("Note"), validators=[
        Length(max=tasks.MAX_NOTE, message=_l("At most %(max)d characters."))])

    def __init__(self, team: list[User], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assignee.choices = [(u.staff_id or "", _staff(u)) for u in team]
        self.priority.choices = _priority_choices()
        self.recurrence.choices = [("", _("Does not repeat"))] + [(r, label(r))
                                                                  for r in RECURRENCES]


class CompleteForm(FlaskForm):
    outcome = TextAreaField(_l("Outcome"), validators=[
        InputRequired(message=_l("Describe the outcome.")),
        Length(max=tasks.MAX_OUTCOME, message=_l("At most %(max)d characters."))])
    next = HiddenField()


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[
        Length(max=tasks.MAX_OUTCOME, message=_l("At most %(max)d characters."))])
    next = HiddenField()


class ChangeForm(FlaskForm):
    due_date = DateField(_l("Due date"), validators=[
        InputRequired(message=_l("Enter the due date."))])
    priority = SelectField(_l("Priority"))
    assignee = SelectField(_l("Assignee"), validate_choice=False)

    def __init__(self, team: list[User], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.priority.choices = _priority_choices()
        self.assignee.choices = [(u.staff_id or "", _staff(u)) for u in team]


def _staff(user: User) -> str:
    name = user.display_name or user.username
    return f"{name} ({user.staff_id})" if name != user.staff_id else name


def _errors(form: FlaskForm) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


# -- the agenda ------------------------------------------------------------------------------

@blueprint.get("/agenda")
@login_required
def agenda():  # type: ignore[no-untyped-def]
    scope = current_scope()
    staff = (request.args.get("staff") or "").strip() or None
    members = tasks.team(db.session, scope) if scope.kind == "branches" else []
    if staff is not None and staff not in {m.staff_id for m in members}:
        staff = None  # only a branch manager narrows, and only to their own RMs
    found = tasks.agenda(db.session, scope, tasks.today(), staff)
    return no_store(render_template(
        "workbench/agenda.html", agenda=found, staff=staff, members=members,
        manager_view=scope.kind == "branches", complete_form=CompleteForm()))


# -- the list --------------------------------------------------------------------------------

@blueprint.get("/tasks")
@login_required
def index():  # type: ignore[no-untyped-def]
    scope = current_scope()
    filters = tasks.TaskFilter.parse(request.args)
    result = tasks.list_tasks(db.session, scope, filters,
                              parse_int(request.args.get("page"), "page", 1), PER_PAGE)
    return no_store(render_template(
        "workbench/tasks_index.html", result=result, filters=filters,
        members=tasks.team(db.session, scope) if scope.kind == "branches" else [],
        manager_view=scope.kind == "branches",
        can_create=scope.kind in ("book", "branches"), kinds=TASK_KINDS,
        statuses=tasks.STATUS_FILTERS))


# -- a new task ------------------------------------------------------------------------------

@blueprint.route("/tasks/new", methods=["GET", "POST"])
@login_required
def new():  # type: ignore[no-untyped-def]
    scope = current_scope()
    if scope.kind not in ("book", "branches"):
        raise Forbidden(_("Tasks are for relationship managers, advisers and branch "
                          "managers."))
    user = _user()
    members = tasks.team(db.session, scope)
    form = TaskForm(members)
    if request.method == "GET":
        form.customer.data = parse_int(request.args.get("customer"), "customer", 0) or None
        form.assignee.data = user.staff_id
        form.due_date.data = tasks.today()
    customer = None
    if form.customer.data and not form.customer.errors:
        customer = customer_in_scope(db.session, scope, form.customer.data)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                task = tasks.create_task(
                    db.session, scope, user, title=form.title.data,
                    due_date=form.due_date.data, day=tasks.today(),
                    customer_id=customer.id if customer else None,
                    assignee=form.assignee.data or None, priority=form.priority.data,
                    note=form.note.data, recurrence=form.recurrence.data or None)
            except Invalid as exc:
                db.session.rollback()
                form.form_errors.append(_say(exc))
            else:
                flash(_("Task created."), "info")
                return redirect(url_for("tasks.show", task_id=task.id))
    return no_store(render_template("workbench/tasks_new.html", form=form, customer=customer,
                                    members=members), status)


# -- one task --------------------------------------------------------------------------------

@blueprint.get("/tasks/<int:task_id>")
@login_required
def show(task_id: int):  # type: ignore[no-untyped-def]
    scope = current_scope()
    row = tasks.task_row(db.session, scope, task_id)
    members = tasks.team(db.session, scope) if scope.kind == "branches" else []
    change = ChangeForm(members, data={"due_date": row.task.due_date,
                                       "priority": row.task.priority,
                                       "assignee": row.task.assignee_staff_id})
    return no_store(render_template(
        "workbench/tasks_show.html", row=row, task=row.task, complete_form=CompleteForm(),
        cancel_form=CancelForm(), change_form=change, manager_view=scope.kind == "branches"))


@blueprint.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):  # type: ignore[no-untyped-def]
    form = CompleteForm()
    default = url_for("tasks.show", task_id=task_id)
    if not form.validate_on_submit():
        tasks.get_task(db.session, current_scope(), task_id)  # 404 first, as for anything
        _errors(form)
        return _back(default), 303
    try:
        done = tasks.complete_task(db.session, current_scope(), _user(), task_id,
                                   form.outcome.data)
    except (Invalid, Conflict) as exc:  # Conflict: closed meanwhile (a double submit)
        db.session.rollback()
        flash(_say(exc), "error")
        return _back(default), 303
    flash(_("Task completed."), "info")
    if done.next_task is not None:
        flash(_("The next occurrence is due on %(date)s.",
                date=day(done.next_task.due_date)), "info")
    return _back(default), 303


@blueprint.post("/tasks/<int:task_id>/cancel")
@login_required
def cancel(task_id: int):  # type: ignore[no-untyped-def]
    form = CancelForm()
    default = url_for("tasks.show", task_id=task_id)
    if not form.validate_on_submit():
        tasks.get_task(db.session, current_scope(), task_id)
        _errors(form)
        return _back(default), 303
    try:
        tasks.cancel_task(db.session, current_scope(), _user(), task_id, form.reason.data)
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash(_say(exc), "error")
        return _back(default), 303
    flash(_("Task cancelled."), "info")
    return _back(default), 303


@blueprint.post("/tasks/<int:task_id>/change")
@login_required
def change(task_id: int):  # type: ignore[no-untyped-def]
    scope = current_scope()
    form = ChangeForm(tasks.team(db.session, scope) if scope.kind == "branches" else [])
    default = url_for("tasks.show", task_id=task_id)
    if not form.validate_on_submit():
        tasks.get_task(db.session, scope, task_id)
        _errors(form)
        return redirect(default), 303
    try:
        tasks.update_task(db.session, scope, _user(), task_id, day=tasks.today(),
                          due_date=form.due_date.data, priority=form.priority.data,
                          assignee=form.assignee.data or None)
    except (Invalid, Conflict) as exc:
        db.session.rollback()
        flash(_say(exc), "error")
        return redirect(default), 303
    flash(_("Task updated."), "info")
    return redirect(default), 303

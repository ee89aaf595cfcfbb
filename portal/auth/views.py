"""Sign-in and sign-out for people; sessions with idle timeout and lock-out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from integration.db import utcnow
from portal import audit
from portal.auth.forms import EmptyForm, LoginForm
from portal.extensions import db, login_manager
from portal.models import User
from portal.security import AuthError, authenticate
from portal.web import actor, client_ip

blueprint = Blueprint("auth", __name__)
SUPPORTED_LOCALES = ("zh_CN", "en")


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isascii() or not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or str(user.session_version) != version:
        return None
    return user


@blueprint.before_app_request
def enforce_idle_timeout() -> None:
    """A session unused for longer than the idle timeout is signed out."""
    if not current_user.is_authenticated:
        return
    now = utcnow().timestamp()
    last = session.get("seen", now)
    if now - last > current_app.config["IDLE_TIMEOUT_SECONDS"]:
        logout_user()
        session.clear()
        flash(_("You were signed out after a period of inactivity."), "info")
        return
    session["seen"] = now


@blueprint.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    if current_user.is_authenticated:
        return redirect(_landing(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data or ""
        try:
            user = authenticate(db.session, username, form.password.data or "",
                                password_method=current_app.config["PASSWORD_METHOD"])
        except AuthError as exc:
            g.commit_on_error = True  # failed attempts and their audit must stay
            known = db.session.query(User).filter_by(username=username).one_or_none()
            audit.record(db.session, audit.Actor(known, username[:64], client_ip(),
                                                 request.headers.get("User-Agent")),
                         "sign_in_failed", reason=str(exc))
            flash(_(str(exc)) if str(exc) else _("Sign-in failed"), "error")
            return render_template("auth/login.html", form=form), 401
        # A language picked on the sign-in page is the user's latest choice: keep it.
        chosen = session.get("lang")
        session.clear()
        login_user(user)
        session.permanent = True
        session["seen"] = utcnow().timestamp()
        if chosen in SUPPORTED_LOCALES:
            session["lang"] = user.locale = chosen
        elif user.locale in SUPPORTED_LOCALES:
            session["lang"] = user.locale
        audit.record(db.session, actor(user), "sign_in")
        return redirect(_safe_next(request.args.get("next")) or _landing(user))
    return render_template("auth/login.html", form=form)


def _landing(user: User) -> str:
    """Where a sign-in lands: people with a book of work on the day's agenda."""
    if user.role in ("rm", "advisor", "branch_manager"):
        return url_for("tasks.agenda")
    return url_for("customers.search")


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a signed-in user to another host.

    Control characters are refused outright: URL parsers (Python's, browsers') drop tabs
    and newlines, so "/<TAB>/evil.example" would leave as "//evil.example"."""
    if not target or not target.isprintable() or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@blueprint.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    if EmptyForm().validate_on_submit():
        audit.record(db.session, actor(), "sign_out")
        # The session lives in a signed cookie: a copy taken before signing out would stay
        # valid.  A new version ends it (and the user's other sessions and tokens).
        current_user.session_version += 1
        logout_user()
        session.clear()
    return redirect(url_for("auth.login"))


@blueprint.post("/language/<code>")
def set_language(code: str):  # type: ignore[no-untyped-def]
    if code in SUPPORTED_LOCALES and EmptyForm().validate_on_submit():
        session["lang"] = code
        if current_user.is_authenticated:
            current_user.locale = code
    return redirect(_safe_next(request.form.get("next")) or url_for("customers.search"))


def select_locale() -> str:
    """The user's choice, then the browser's preference, then Chinese."""
    chosen = session.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen  # type: ignore[no-any-return]
    # The browser's languages in its order of preference; the first we speak wins.
    # (best_match would prefer an exact "zh" at q=0.5 over "en-GB" at q=1.)
    for tag, _quality in request.accept_languages:
        primary = tag.replace("_", "-").split("-", 1)[0].lower()
        if primary == "en":
            return "en"
        if primary == "zh":
            return "zh_CN"
    return "zh_CN"

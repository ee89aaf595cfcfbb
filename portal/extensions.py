"""Unbound extension objects; create_app binds them to an app."""
from __future__ import annotations

from flask import Flask, current_app, g
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from integration.db import make_engine, session_factory


class Database:
    """The engine of one app, and one session per request: services flush, and the
    request commits once at its end (or rolls back on any error)."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        # Requests write (audit rows, sign-in counters) after they read. On SQLite a
        # deferred transaction cannot upgrade to a write while another worker writes, and
        # fails at once; IMMEDIATE queues for the lock instead. Other databases ignore it.
        requests = engine.execution_options(sqlite_immediate=True)
        app.extensions["crm.db"] = (engine, session_factory(engine), session_factory(requests))
        app.after_request(self._commit)
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["crm.db"][0]  # type: ignore[no-any-return]

    @property
    def sessions(self) -> sessionmaker[Session]:
        return current_app.extensions["crm.db"][1]  # type: ignore[no-any-return]

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = current_app.extensions["crm.db"][2]()
        return g.db_session  # type: ignore[no-any-return]

    @staticmethod
    def _commit(response):  # type: ignore[no-untyped-def]
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400 or getattr(g, "commit_on_error", False):
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()

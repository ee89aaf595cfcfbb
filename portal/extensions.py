"""Unbound extension objects; create_app binds them to an app."""
from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from integration.db import make_engine, session_factory


class Database:
    """The engine and session factory of one app, built when the app is created."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        app.extensions["crm.db"] = (engine, session_factory(engine))

    @property
    def engine(self) -> Engine:
        return current_app.extensions["crm.db"][0]  # type: ignore[no-any-return]

    @property
    def sessions(self) -> sessionmaker[Session]:
        return current_app.extensions["crm.db"][1]  # type: ignore[no-any-return]


db = Database()

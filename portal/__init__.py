"""The Flask application: create_app reads like a table of contents."""
from __future__ import annotations

import logging

from flask import Flask

from config import BaseConfig, load_config


def create_app(config: BaseConfig | None = None) -> Flask:
    config = config or load_config()
    app = Flask(__name__, instance_path=config.INSTANCE_PATH, instance_relative_config=False)
    app.config.from_object(config)
    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_extensions(app: Flask) -> None:
    from portal.extensions import db

    db.init_app(app)


def register_blueprints(app: Flask) -> None:
    from portal.health import blueprint as health

    app.register_blueprint(health)


def register_commands(app: Flask) -> None:
    from integration.cli import register as register_integration

    register_integration(app)

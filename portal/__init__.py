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
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    register_jobs()
    return app


def configure_logging(app: Flask) -> None:
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def register_extensions(app: Flask) -> None:
    from portal.auth.views import select_locale
    from portal.extensions import babel, csrf, db, login_manager

    db.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    _compile_translations(app)


def _compile_translations(app: Flask) -> None:
    """The .po files are the source; compile them once if an install step did not."""
    from portal.i18n import compile_catalogues

    try:
        compile_catalogues()
    except OSError as exc:  # a read-only install: the packaged .mo files are used
        app.logger.warning("could not compile translations: %s", exc)


def register_blueprints(app: Flask) -> None:
    from portal.api.views import blueprint as api
    from portal.audit_views import api as audit_api
    from portal.audit_views import blueprint as audit
    from portal.auth.views import blueprint as auth
    from portal.customers.api import blueprint as customers_api
    from portal.customers.views import blueprint as customers
    from portal.health import blueprint as health
    from portal.vip.reports_api import blueprint as vip_reports_api
    from portal.vip.reports_views import blueprint as vip
    from portal.vip.rules_views import blueprint as vip_rules
    from portal.vip.service_api import blueprint as service_api
    from portal.vip.service_views import blueprint as service
    from portal.vip.tiers_api import blueprint as tiers_api
    from portal.workbench.book_api import blueprint as book_api
    from portal.workbench.book_views import blueprint as book
    from portal.workbench.contacts_api import blueprint as contacts_api
    from portal.workbench.contacts_views import blueprint as contacts
    from portal.workbench.notifications_api import blueprint as notifications_api
    from portal.workbench.notifications_views import blueprint as notifications
    from portal.workbench.opportunities_api import blueprint as opportunities_api
    from portal.workbench.opportunities_views import blueprint as pipeline
    from portal.workbench.tasks_api import blueprint as tasks_api
    from portal.workbench.tasks_views import blueprint as tasks
    from portal.workbench.views import blueprint as workbench

    for blueprint in (health, auth, customers, audit, api, audit_api, customers_api,
                      workbench, tasks, contacts, pipeline, book, notifications,
                      tasks_api, contacts_api, opportunities_api, book_api, notifications_api,
                      vip, vip_rules, service, tiers_api, service_api, vip_reports_api):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from portal.pages import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal.pages import template_helpers

    app.context_processor(template_helpers)


def register_jobs() -> None:
    """The nightly jobs (run by `crm nightly` and by the scheduler after each import)."""
    from portal.vip import jobs as vip_jobs  # noqa: F401  - registers on import
    from portal.workbench import jobs  # noqa: F401


def register_commands(app: Flask) -> None:
    from integration.cli import register as register_integration
    from portal.cli_users import users_group
    from portal.vip.cli import tiers_group
    from portal.workbench.cli import workbench_group
    from portal import demo_users  # noqa: F401  - adds `crm users demo`

    register_integration(app)
    app.cli.add_command(users_group)
    app.cli.add_command(tiers_group)
    app.cli.add_command(workbench_group)

"""`make run` signs in with the demo staff: `crm users demo` creates them, once."""
from __future__ import annotations

from sqlalchemy import func, select

from integration.demo import DemoSpec, staff_directory
from portal.demo_users import DEMO_PASSWORD
from portal.models import User


def test_demo_users_are_created_once_and_can_sign_in(app, runner, client, tmp_path):
    assert runner.invoke(args=["demo", "--customers", "50", "--months", "1",
                               "--out", str(tmp_path / "demo")]).exit_code in (0, 3)
    first = runner.invoke(args=["users", "demo", "--customers", "50"])
    assert first.exit_code == 0, first.output
    staff = staff_directory(DemoSpec(customers=50))
    assert f"({len(staff) + 1} new)" in first.output
    again = runner.invoke(args=["users", "demo", "--customers", "50"])
    assert again.exit_code == 0 and "(0 new)" in again.output

    from portal.extensions import db
    with app.app_context():
        roles = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
    assert roles["admin"] == 1 and roles["analyst"] >= 1 and roles["rm"] >= 30
    assert roles["branch_manager"] >= 1

    from tests.functional.conftest import csrf_token
    response = client.post("/login", data={"username": "rm0001", "password": DEMO_PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302

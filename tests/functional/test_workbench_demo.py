"""`crm workbench demo`: demo activity for the demo bank's RMs, written once."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.workbench.models import Contact, Opportunity, OpportunityStageChange, Task


def test_demo_activity_is_written_once_for_the_rms_customers(app, runner, engine, bank,
                                                             users) -> None:  # type: ignore[no-untyped-def]
    first = runner.invoke(args=["workbench", "demo", "--per-rm", "2"])
    assert first.exit_code == 0, first.output
    assert "demo activity:" in first.output
    with Session(engine) as session:
        contacts = session.scalars(select(Contact)).all()
        opportunities = session.scalars(select(Opportunity)).all()
        assert contacts and opportunities
        # Each RM's records concern their own customers only (RM0001: C1 and C4).
        assert {(c.staff_id, c.customer_id) for c in contacts} <= {
            ("RM0001", bank.ids["C1"]), ("RM0001", bank.ids["C4"]),
            ("RM0002", bank.ids["C2"]), ("RM0003", bank.ids["C3"])}
        assert all(o.stage != "lost" or o.lost_reason for o in opportunities)
        assert all(o.stage != "won" or o.won_on for o in opportunities)
        # Every opportunity's history ends at its stage.
        for o in opportunities:
            last = session.scalars(select(OpportunityStageChange)
                                   .where(OpportunityStageChange.opportunity_id == o.id)
                                   .order_by(OpportunityStageChange.changed_at.desc(),
                                             OpportunityStageChange.id.desc())).first()
            assert last is not None and last.to_stage == o.stage
        tasks = session.scalar(select(func.count()).select_from(Task))
    second = runner.invoke(args=["workbench", "demo"])
    assert second.exit_code == 0 and "skipped" in second.output
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == len(contacts)
        assert session.scalar(select(func.count()).select_from(Task)) == tasks

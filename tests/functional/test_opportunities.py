"""The opportunity pipeline's rules, at the service level over the bank loaded through the
real feed pipeline: creating (who owns it, what is valid), stage moves (lost needs a
reason, won and lost are final but a lost one can be reopened, history), probabilities,
and scope (another RM's opportunity is not found; branch managers see their subtree;
analysts and admins have no pipeline)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from integration.models import Product
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.models import User
from portal.scope import Scope, scope_for
from portal.workbench import opportunities as pipeline
from portal.workbench.models import Opportunity, OpportunityStageChange

TODAY = date(2026, 11, 20)  # the bank's "today" in these tests (the feed's business date)


# -- helpers (also used by test_forecast and test_confirmation) ---------------------------

def who(session: Session, username: str) -> tuple[User, Scope]:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return user, scope_for(session, user)


def create(session: Session, username: str, customer_id: int, *, product: str = "TD1Y",
           amount: Any = "100000", close: date | None = None, today: date = TODAY,
           **kwargs: Any) -> Opportunity:
    user, scope = who(session, username)
    return pipeline.create_opportunity(
        session, scope, user, customer_id=customer_id, product_code=product, amount=amount,
        expected_close=close or today + timedelta(days=30), today=today, **kwargs)


def move(session: Session, username: str, opportunity_id: int, stage: str,
         today: date = TODAY, **kwargs: Any) -> Opportunity:
    user, scope = who(session, username)
    return pipeline.move_stage(session, scope, user, opportunity_id, stage, today=today,
                               **kwargs)


def stages_of(session: Session, opportunity_id: int) -> list[tuple[str | None, str]]:
    return [(c.from_stage, c.to_stage) for c in session.scalars(
        select(OpportunityStageChange)
        .where(OpportunityStageChange.opportunity_id == opportunity_id)
        .order_by(OpportunityStageChange.id))]


@pytest.fixture
def session(engine, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        yield session


# -- creating -----------------------------------------------------------------------------

def test_an_rm_creates_an_opportunity_they_own_at_the_lead_stage(session, bank):
    opp = create(session, "rm1", bank.ids["C1"], amount="250000.50", note=" 想买定期 ")
    assert (opp.owner_staff_id, opp.branch_code, opp.stage) == ("RM0001", "S011", "lead")
    assert opp.amount == Decimal("250000.50") and opp.note == "想买定期"
    assert opp.created_on == TODAY and opp.expected_close == TODAY + timedelta(days=30)
    assert opp.won_on is None and opp.confirmed_at is None
    assert stages_of(session, opp.id) == [(None, "lead")]


def test_the_baseline_is_what_the_customer_held_of_the_product_when_it_was_created(
        session, bank):
    # 张三 holds 1000 units of FUND1 (bank feed); nothing of TD1Y in holdings.
    assert create(session, "rm1", bank.ids["C1"], product="FUND1").baseline_units == 1000
    assert create(session, "rm1", bank.ids["C1"], product="TD1Y").baseline_units == 0


def test_a_branch_manager_names_an_rm_or_adviser_of_the_subtree_as_owner(session, bank):
    opp = create(session, "bm_b01", bank.ids["C1"], owner_staff_id="AD0001")
    assert opp.owner_staff_id == "AD0001" and opp.branch_code == "S011"
    with pytest.raises(Invalid):  # RM0003 works in another branch
        create(session, "bm_b01", bank.ids["C1"], owner_staff_id="RM0003")
    with pytest.raises(Invalid):  # someone must own it
        create(session, "bm_b01", bank.ids["C1"])


def test_an_rm_cannot_create_an_opportunity_for_someone_else(session, bank):
    with pytest.raises(Invalid):
        create(session, "rm1", bank.ids["C1"], owner_staff_id="RM0002")


def test_the_amount_must_be_above_zero_with_at_most_two_decimals(session, bank):
    for amount in ("0", "-5", "1.234", "abc", "", None, "NaN", "Infinity", "1e30", 1.5, True):
        with pytest.raises(Invalid):
            create(session, "rm1", bank.ids["C1"], amount=amount)
    assert session.scalar(select(func.count()).select_from(Opportunity)) == 0
    assert create(session, "rm1", bank.ids["C1"], amount="1,000.5").amount == Decimal("1000.5")


def test_the_product_must_exist_and_be_on_offer(session, bank):
    with pytest.raises(Invalid):
        create(session, "rm1", bank.ids["C1"], product="NOSUCH")
    session.execute(update(Product).where(Product.code == "TD1Y").values(closed=True))
    with pytest.raises(Invalid):
        create(session, "rm1", bank.ids["C1"], product="TD1Y")


def test_the_expected_close_date_is_required_and_not_in_the_past(session, bank):
    with pytest.raises(Invalid):
        create(session, "rm1", bank.ids["C1"], close=TODAY - timedelta(days=1))
    user, scope = who(session, "rm1")
    for bad in ("", "20.11.2026", None):
        with pytest.raises(Invalid):
            pipeline.create_opportunity(session, scope, user, customer_id=bank.ids["C1"],
                                        product_code="TD1Y", amount="1",
                                        expected_close=bad, today=TODAY)
    assert create(session, "rm1", bank.ids["C1"], close=TODAY).expected_close == TODAY


def test_a_customer_outside_the_scope_is_not_found(session, bank):
    with pytest.raises(NotFound):
        create(session, "rm1", bank.ids["C2"])  # 李四 is RM0002's
    with pytest.raises(NotFound):
        create(session, "bm_b02", bank.ids["C1"], owner_staff_id="RM0003")


def test_analysts_and_admins_have_no_pipeline(session, bank):
    for username in ("analyst", "admin"):
        with pytest.raises(Forbidden):
            create(session, username, bank.ids["C1"])
        user, scope = who(session, username)
        with pytest.raises(Forbidden):
            pipeline.search(session, scope, pipeline.OpportunityFilter())


# -- stage moves --------------------------------------------------------------------------

def test_open_stages_move_either_way_and_every_move_is_recorded(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    created_at = opp.updated_at
    for stage in ("proposal", "contacted", "needs_analysis"):
        move(session, "rm1", opp.id, stage)
    assert opp.stage == "needs_analysis" and opp.updated_at > created_at
    assert stages_of(session, opp.id) == [(None, "lead"), ("lead", "proposal"),
                                          ("proposal", "contacted"),
                                          ("contacted", "needs_analysis")]


def test_moving_to_the_stage_it_is_in_changes_nothing(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    move(session, "rm1", opp.id, "lead")
    assert stages_of(session, opp.id) == [(None, "lead")]


def test_an_unknown_stage_is_refused(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    with pytest.raises(Invalid):
        move(session, "rm1", opp.id, "signed")


def test_losing_needs_a_reason_from_the_list(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    for reason in (None, "", "bad_weather"):
        with pytest.raises(Invalid):
            move(session, "rm1", opp.id, "lost", lost_reason=reason)
    assert opp.stage == "lead" and stages_of(session, opp.id) == [(None, "lead")]
    move(session, "rm1", opp.id, "lost", lost_reason="competitor", lost_note="招商银行利率更高")
    assert (opp.stage, opp.lost_reason, opp.lost_note) == ("lost", "competitor",
                                                            "招商银行利率更高")


def test_winning_sets_the_day_it_was_won_and_is_final(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    move(session, "rm1", opp.id, "won", today=TODAY + timedelta(days=3))
    assert opp.stage == "won" and opp.won_on == TODAY + timedelta(days=3)
    for stage in ("proposal", "lost", "lead"):
        with pytest.raises(Conflict):
            move(session, "rm1", opp.id, stage, lost_reason="price")
    assert stages_of(session, opp.id) == [(None, "lead"), ("lead", "won")]


def test_a_lost_opportunity_is_final_except_for_reopening_it_to_an_open_stage(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    move(session, "rm1", opp.id, "lost", lost_reason="price", lost_note="too dear")
    with pytest.raises(Conflict):
        move(session, "rm1", opp.id, "won")
    move(session, "rm1", opp.id, "contacted")  # the owner reopens it
    assert (opp.stage, opp.lost_reason, opp.lost_note) == ("contacted", None, None)
    # The history keeps why it was lost.
    reasons = [c.lost_reason for c in session.scalars(
        select(OpportunityStageChange).where(OpportunityStageChange.opportunity_id == opp.id)
        .order_by(OpportunityStageChange.id))]
    assert reasons == [None, "price", None]
    move(session, "rm1", opp.id, "lost", lost_reason="no_need")
    move(session, "bm_b01", opp.id, "proposal")  # and so does the branch manager
    assert opp.stage == "proposal"


def test_a_move_from_a_stage_that_changed_meanwhile_is_refused(bank, users, engine):
    with Session(engine, expire_on_commit=False) as mine:
        opp = create(mine, "rm1", bank.ids["C1"])
        mine.commit()  # this session goes on believing the opportunity is a lead
        with Session(engine) as other:  # someone else wins it meanwhile
            move(other, "rm1", opp.id, "won")
            other.commit()
        with pytest.raises(Conflict):
            move(mine, "rm1", opp.id, "lost", lost_reason="price")
        mine.rollback()
        assert mine.scalar(select(Opportunity.stage).where(Opportunity.id == opp.id)) == "won"
        assert stages_of(mine, opp.id) == [(None, "lead"), ("lead", "won")]


def test_edits_change_amount_close_and_note_while_open(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    user, scope = who(session, "rm1")
    pipeline.edit_opportunity(session, scope, user, opp.id, amount="300000",
                              expected_close=(TODAY + timedelta(days=60)).isoformat(),
                              note="加大金额", today=TODAY)
    assert (opp.amount, opp.expected_close, opp.note) == (
        Decimal("300000"), TODAY + timedelta(days=60), "加大金额")
    with pytest.raises(Invalid):
        pipeline.edit_opportunity(session, scope, user, opp.id, amount="0", today=TODAY)
    with pytest.raises(Forbidden):  # only branch managers hand it to another RM
        pipeline.edit_opportunity(session, scope, user, opp.id, owner_staff_id="RM0002",
                                  today=TODAY)
    move(session, "rm1", opp.id, "won")
    with pytest.raises(Conflict):
        pipeline.edit_opportunity(session, scope, user, opp.id, amount="1", today=TODAY)
    pipeline.edit_opportunity(session, scope, user, opp.id, note="客户已签约", today=TODAY)
    assert opp.note == "客户已签约" and opp.amount == Decimal("300000")


def test_a_branch_manager_hands_an_open_opportunity_to_another_rm_of_the_subtree(
        session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    user, scope = who(session, "bm_b01")
    pipeline.edit_opportunity(session, scope, user, opp.id, owner_staff_id="AD0001",
                              today=TODAY)
    assert opp.owner_staff_id == "AD0001"
    with pytest.raises(Invalid):
        pipeline.edit_opportunity(session, scope, user, opp.id, owner_staff_id="RM0003",
                                  today=TODAY)


# -- probabilities ------------------------------------------------------------------------

def test_each_stage_has_one_probability():
    assert pipeline.PROBABILITY == {
        "lead": Decimal("0.10"), "contacted": Decimal("0.20"),
        "needs_analysis": Decimal("0.40"), "proposal": Decimal("0.60"),
        "won": Decimal("1.00"), "lost": Decimal("0")}


def test_the_weighted_amount_is_the_amount_times_the_stage_probability(session, bank):
    opp = create(session, "rm1", bank.ids["C1"], amount="50000.55")
    user, scope = who(session, "rm1")
    expected = {"lead": "5000.055", "contacted": "10000.11", "needs_analysis": "20000.22",
                "proposal": "30000.33", "won": "50000.55"}
    for stage, weighted in expected.items():
        move(session, "rm1", opp.id, stage)
        row = pipeline.row(session, scope, opp.id)
        assert row.weighted == Decimal(weighted), stage
        assert row.probability == pipeline.PROBABILITY[stage]


# -- scope --------------------------------------------------------------------------------

def test_another_rms_opportunity_is_not_found(session, bank):
    opp = create(session, "rm1", bank.ids["C1"])
    user, scope = who(session, "rm2")
    for attempt in (lambda: pipeline.get_opportunity(session, scope, opp.id),
                    lambda: pipeline.row(session, scope, opp.id),
                    lambda: move(session, "rm2", opp.id, "contacted"),
                    lambda: pipeline.edit_opportunity(session, scope, user, opp.id,
                                                      note="x", today=TODAY)):
        with pytest.raises(NotFound):
            attempt()
    with pytest.raises(NotFound):  # the same answer as for one that does not exist
        pipeline.get_opportunity(session, scope, opp.id + 1000)
    assert opp.stage == "lead" and opp.note is None


def test_branch_managers_see_their_subtree_only(session, bank):
    mine = create(session, "rm1", bank.ids["C1"])
    theirs = create(session, "rm2", bank.ids["C2"])
    far = create(session, "rm3", bank.ids["C3"])

    def ids(username: str) -> set[int]:
        _, scope = who(session, username)
        return {r.id for r in pipeline.search(session, scope, pipeline.OpportunityFilter(),
                                              per_page=100).items}

    assert ids("bm_b01") == {mine.id, theirs.id}
    assert ids("bm_b02") == {far.id}
    assert ids("rm1") == {mine.id}
    assert ids("adv1") == set()
    _, scope = who(session, "bm_b02")
    with pytest.raises(NotFound):
        pipeline.get_opportunity(session, scope, mine.id)


def test_the_list_filters_pages_and_sums_every_match(session, bank):
    a = create(session, "rm1", bank.ids["C1"], amount="100000", close=TODAY + timedelta(days=5))
    b = create(session, "rm1", bank.ids["C1"], amount="200000", product="FUND1",
               close=TODAY + timedelta(days=10))
    c = create(session, "rm1", bank.ids["C4"], amount="300000", close=TODAY + timedelta(days=40))
    move(session, "rm1", b.id, "proposal")
    move(session, "rm1", c.id, "won")
    _, scope = who(session, "rm1")

    def found(**args: str) -> pipeline.Page:
        return pipeline.search(session, scope, pipeline.OpportunityFilter.parse(args),
                               per_page=2)

    everything = found()
    assert [r.id for r in everything.items] == [a.id, b.id]  # soonest close first
    assert (everything.total, everything.pages) == (3, 2)
    assert everything.amount == Decimal("600000")
    assert everything.weighted == Decimal("10000") + Decimal("120000") + Decimal("300000")
    assert [r.id for r in found(stage="proposal").items] == [b.id]
    assert [r.id for r in found(stage="lead,won").items] == [a.id, c.id]
    assert [r.id for r in found(product="FUND1").items] == [b.id]
    assert [r.id for r in found(close_from=(TODAY + timedelta(days=6)).isoformat()).items] \
        == [b.id, c.id]
    assert [r.id for r in found(close_to=(TODAY + timedelta(days=6)).isoformat()).items] \
        == [a.id]
    assert [r.id for r in found(confirmed="no").items] == [c.id]
    assert found(confirmed="yes").total == 0
    assert [r.id for r in pipeline.search(session, scope, pipeline.OpportunityFilter.parse(
        {}), page=2, per_page=2).items] == [c.id]
    for bad in ({"stage": "signed"}, {"confirmed": "maybe"}, {"close_from": "tomorrow"},
                {"close_from": "2026-12-01", "close_to": "2026-11-01"}):
        with pytest.raises(Invalid):
            pipeline.OpportunityFilter.parse(bad)


def test_the_board_has_a_column_per_stage_with_count_and_sum(session, bank):
    create(session, "rm1", bank.ids["C1"], amount="100000")
    b = create(session, "rm1", bank.ids["C1"], amount="200000")
    c = create(session, "rm1", bank.ids["C4"], amount="300000")
    d = create(session, "rm1", bank.ids["C4"], amount="400000")
    move(session, "rm1", b.id, "proposal")
    move(session, "rm1", c.id, "won")
    move(session, "rm1", d.id, "lost", lost_reason="price")
    _, scope = who(session, "rm1")
    columns = {c.stage: c for c in pipeline.board(session, scope, pipeline.OpportunityFilter(),
                                                  today=TODAY)}
    assert list(columns) == ["lead", "contacted", "needs_analysis", "proposal", "won", "lost"]
    assert {s: (c.count, c.amount) for s, c in columns.items()} == {
        "lead": (1, Decimal("100000")), "contacted": (0, Decimal(0)),
        "needs_analysis": (0, Decimal(0)), "proposal": (1, Decimal("200000")),
        "won": (1, Decimal("300000")), "lost": (1, Decimal("400000"))}
    assert [o.id for o in columns["won"].cards] == [c.id]
    # Won long ago: off the board (still in the list).
    session.execute(update(Opportunity).where(Opportunity.id == c.id)
                    .values(won_on=TODAY - timedelta(days=pipeline.BOARD_CLOSED_DAYS + 1)))
    columns = {c.stage: c for c in pipeline.board(session, scope, pipeline.OpportunityFilter(),
                                                  today=TODAY)}
    assert columns["won"].count == 0 and columns["won"].cards == []
    # Lost long ago: off the board too, and a later edit of its note does not bring it back.
    assert session.get(Opportunity, d.id).lost_on == TODAY
    session.execute(update(Opportunity).where(Opportunity.id == d.id)
                    .values(lost_on=TODAY - timedelta(days=pipeline.BOARD_CLOSED_DAYS + 1)))
    user, _ = who(session, "rm1")
    pipeline.edit_opportunity(session, scope, user, d.id, note="they chose another bank",
                              today=TODAY)
    columns = {c.stage: c for c in pipeline.board(session, scope, pipeline.OpportunityFilter(),
                                                  today=TODAY)}
    assert columns["lost"].count == 0

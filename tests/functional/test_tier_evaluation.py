"""The monthly evaluation: every tier rule at its boundaries, upgrades at once, downgrades
after the grace period, re-evaluation, the nightly job, and explanations in words."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import oracle
from sqlalchemy.orm import Session

from integration.jobs import run_nightly
from portal.errors import Conflict, Invalid
from portal.vip import evaluation, explain, rules
from portal.vip.models import CustomerMonthAum, CustomerTier, TierDecision
from tests.feeds import BDATE
from tests.functional.tiers_support import (
    AUG,
    DEC,
    NOV,
    OCT,
    SEP,
    change_rules,
    current_tier,
    decision,
    evaluate,
    explained,
    set_month,
    set_months,
)

JUL = date(2026, 7, 1)


@pytest.fixture
def ids(bank) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return bank.ids


def months_of(engine, customer_id: int, adb, *months: date, products: int = 0) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_months(session, customer_id, adb, *months, products=products)


def edit_rules(engine, **kwargs):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return change_rules(session, **kwargs)


def tiers_of(engine, month: date) -> dict[int, tuple[str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {d.customer_id: (d.to_tier, d.outcome) for d in session.scalars(
            select(TierDecision).where(TierDecision.month == month))}


# -- figures and the rules -----------------------------------------------------------------

def test_the_first_evaluation_gives_every_customer_the_tier_the_figures_meet(engine, ids) -> None:  # type: ignore[no-untyped-def]
    months_of(engine, ids["C1"], 2_500_000, AUG, SEP, OCT, products=4)
    months_of(engine, ids["C2"], 50_000, AUG, SEP, OCT)
    months_of(engine, ids["C3"], 8_000, OCT)
    result = evaluate(engine, OCT)
    assert result.as_json() == {"month": "2026-10", "version": 1, "replaced": False,
                                "customers": 4, "counts": {
                                    "new": 4, "upgrade": 0, "downgrade": 0, "held": 0,
                                    "unchanged": 0, "pinned": 0, "pin_expired": 0}}
    assert tiers_of(engine, OCT) == {ids["C1"]: ("diamond", "new"), ids["C2"]: ("gold", "new"),
                                     ids["C3"]: ("standard", "new"),
                                     ids["C4"]: ("standard", "new")}  # no aggregates at all
    found = decision(engine, ids["C1"], OCT)
    assert (found.from_tier, found.qualified_tier, found.adb, found.contribution,
            found.products, found.months_below, found.rule_version) == \
        (None, "diamond", Decimal(2_500_000), Decimal(0), 4, 0, 1)
    tier = current_tier(engine, ids["C1"])
    assert (tier.tier_code, tier.since, tier.months_below) == ("diamond", NOV, 0)
    why = explained(engine, ids["C1"], OCT)
    assert (why["code"], why["adb"], why["version"], why["qualified"], why["next"]) == \
        ("new", "2500000.0000", 1, "diamond", "private")
    assert why["tiers"] == {"diamond": {"min_adb": "2000000.0000"},
                            "private": {"min_adb": "6000000.0000"}}


def test_average_daily_aum_is_weighted_by_days_over_the_window(engine, ids) -> None:  # type: ignore[no-untyped-def]
    c1 = ids["C1"]
    with Session(engine) as session, session.begin():
        set_month(session, c1, JUL, 10_000_000)  # outside the 3-month window
        set_month(session, c1, AUG, 30_000, days=31)
        set_month(session, c1, SEP, 60_000, days=30)
        set_month(session, c1, OCT, 62_000, days=1)  # a customer since Oct 31
    evaluate(engine, OCT)
    # (31 × 30,000 + 30 × 60,000 + 62,000) / 62 = 45,032.2580…: not Gold (50,000).
    found = decision(engine, c1, OCT)
    assert (found.adb, found.to_tier) == (Decimal("45032.2580"), "standard")
    edit_rules(engine, window=1)  # October alone
    evaluate(engine, OCT)
    assert (decision(engine, c1, OCT).adb, decision(engine, c1, OCT).to_tier) == \
        (Decimal(62_000), "gold")


@pytest.mark.parametrize("adb, tier", [
    ("49999.9999", "standard"), ("50000", "gold"), ("499999.9999", "gold"),
    ("500000", "platinum"), ("2000000", "diamond"), ("5999999.9999", "diamond"),
    ("6000000", "private")])
def test_thresholds_at_their_exact_boundaries(engine, ids, adb, tier) -> None:  # type: ignore[no-untyped-def]
    months_of(engine, ids["C1"], Decimal(adb), OCT)
    evaluate(engine, OCT)
    assert decision(engine, ids["C1"], OCT).to_tier == tier


def test_an_average_just_below_the_threshold_does_not_round_up(engine, ids) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_month(session, ids["C1"], OCT, 0)
        row = session.get(CustomerMonthAum, (ids["C1"], OCT))
        row.aum_day_sum, row.days = Decimal("1499999.9999"), 30  # 49,999.99999967 a day
    evaluate(engine, OCT)
    found = decision(engine, ids["C1"], OCT)
    assert (found.adb, found.to_tier) == (Decimal("49999.9999"), "standard")


def test_a_contribution_condition_must_also_be_met_with_all(engine, ids) -> None:  # type: ignore[no-untyped-def]
    edit_rules(engine, gold={"min_contribution": Decimal(100)})
    with Session(engine) as session, session.begin():
        set_month(session, ids["C1"], SEP, 60_000, contribution=Decimal("99.9999"))
        set_month(session, ids["C1"], OCT, 60_000, contribution=Decimal("100.0001"))
        set_month(session, ids["C2"], OCT, 60_000, contribution=Decimal("99.9999"))
        set_month(session, ids["C3"], OCT, 40_000, contribution=Decimal(5000))
    evaluate(engine, OCT)
    # Contribution is the average per month with data: (99.9999 + 100.0001) / 2 = 100.
    found = decision(engine, ids["C1"], OCT)
    assert (found.contribution, found.to_tier) == (Decimal(100), "gold")
    assert decision(engine, ids["C2"], OCT).to_tier == "standard"
    assert decision(engine, ids["C3"], OCT).to_tier == "standard"  # the AUM is still needed


def test_product_count_counts_distinct_products_of_open_accounts_and_holdings(engine, ids) -> None:  # type: ignore[no-untyped-def]
    from portal.vip import aum
    from portal.workbench.metrics import refresh_metrics

    edit_rules(engine, gold={"min_products": 4})
    # The month's aggregates from the data, as the nightly jobs write them.
    with Session(engine) as session, session.begin():
        refresh_metrics(session, date(2026, 10, 31))
        aum.add_day(session, date(2026, 10, 31))
    evaluate(engine, OCT)
    # 张三: savings, USD current account, mortgage and the fund; 李四: one time deposit
    # (AUM 50,000: Gold by AUM alone, not with 4 products required as well).
    assert decision(engine, ids["C1"], OCT).products == 4
    assert tiers_of(engine, OCT)[ids["C1"]][0] == "gold"
    assert decision(engine, ids["C2"], OCT).products == 1
    assert decision(engine, ids["C2"], OCT).adb == 50_000
    assert tiers_of(engine, OCT)[ids["C2"]][0] == "standard"

    # A product opened after the month does not count for it, however late the evaluation.
    with Session(engine) as session, session.begin():
        assert session.scalar(select(CustomerMonthAum.products).where(
            CustomerMonthAum.customer_id == ids["C2"], CustomerMonthAum.month == OCT)) == 1


def test_any_lets_one_condition_suffice(engine, ids) -> None:  # type: ignore[no-untyped-def]
    edit_rules(engine, gold={"min_contribution": Decimal(500), "min_products": 4,
                             "combine": "any"})
    with Session(engine) as session, session.begin():
        set_month(session, ids["C1"], OCT, 1_000, products=4)
        set_month(session, ids["C2"], OCT, 1_000, contribution=500)
        set_month(session, ids["C3"], OCT, 50_000)
    months_of(engine, ids["C4"], 49_999, OCT)
    evaluate(engine, OCT)
    assert {c: t for c, (t, _) in tiers_of(engine, OCT).items()} == {
        ids["C1"]: "gold", ids["C2"]: "gold", ids["C3"]: "gold", ids["C4"]: "standard"}


# -- moving between tiers --------------------------------------------------------------------

def test_upgrades_apply_at_once(engine, ids) -> None:  # type: ignore[no-untyped-def]
    c1 = ids["C1"]
    edit_rules(engine, window=1)
    months_of(engine, c1, 60_000, SEP)
    months_of(engine, c1, 2_100_000, OCT)
    evaluate(engine, SEP)
    evaluate(engine, OCT)
    found = decision(engine, c1, OCT)
    assert (found.from_tier, found.to_tier, found.outcome) == ("gold", "diamond", "upgrade")
    tier = current_tier(engine, c1)
    assert (tier.tier_code, tier.since) == ("diamond", NOV)


def grace_run(engine, c1, adbs: list[int], grace: int = 3):  # type: ignore[no-untyped-def]
    """Evaluate consecutive months (a one-month window) with these ADBs."""
    edit_rules(engine, window=1, grace=grace)
    months = [date(2026, 3 + i, 1) for i in range(len(adbs))]
    for month, adb in zip(months, adbs):
        months_of(engine, c1, adb, month)
        evaluate(engine, month)
    return [(decision(engine, c1, m).to_tier, decision(engine, c1, m).outcome,
             decision(engine, c1, m).months_below) for m in months]


def test_a_downgrade_waits_for_the_grace_period(engine, ids) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [600_000, 100_000, 100_000, 100_000, 100_000]) == [
        ("platinum", "new", 0),
        ("platinum", "held", 1),    # 1 of 3 grace months used
        ("platinum", "held", 2),    # 2 of 3
        ("gold", "downgrade", 3),   # 3 months below: down to what the figures give
        ("gold", "unchanged", 0)]   # (a downgrade's count does not go on)


def test_after_a_downgrade_the_grace_count_starts_afresh(engine, ids) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [600_000, 100_000, 100_000, 100_000, 40_000,
                                         40_000]) == [
        ("platinum", "new", 0), ("platinum", "held", 1), ("platinum", "held", 2),
        ("gold", "downgrade", 3), ("gold", "held", 1), ("gold", "held", 2)]


def test_meeting_the_tier_again_resets_the_grace_count(engine, ids) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [600_000, 100_000, 100_000, 500_000, 100_000,
                                         100_000]) == [
        ("platinum", "new", 0), ("platinum", "held", 1), ("platinum", "held", 2),
        ("platinum", "unchanged", 0), ("platinum", "held", 1), ("platinum", "held", 2)]


def test_a_deeper_fall_still_waits_and_lands_on_the_qualified_tier(engine, ids) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [2_500_000, 60_000, 0], grace=2) == [
        ("diamond", "new", 0), ("diamond", "held", 1), ("standard", "downgrade", 2)]


@pytest.mark.parametrize("grace", [0, 1])
def test_without_grace_a_downgrade_is_immediate(engine, ids, grace) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [600_000, 100_000], grace=grace) == [
        ("platinum", "new", 0), ("gold", "downgrade", 1)]


def test_a_rise_within_the_grace_period_that_stays_below_is_still_held(engine, ids) -> None:  # type: ignore[no-untyped-def]
    assert grace_run(engine, ids["C1"], [2_500_000, 60_000, 600_000]) == [
        ("diamond", "new", 0), ("diamond", "held", 1), ("diamond", "held", 2)]


# -- rule versions and re-evaluation ---------------------------------------------------------

def test_a_past_decision_keeps_its_rule_version(app, engine, ids) -> None:  # type: ignore[no-untyped-def]
    c2 = ids["C2"]
    months_of(engine, c2, 45_000, AUG, SEP, OCT)
    evaluate(engine, SEP)
    v2 = edit_rules(engine, gold={"min_adb": Decimal(40_000), "name_en": "Gold card"})
    # The new version changes nothing already decided ...
    assert (decision(engine, c2, SEP).rule_version, decision(engine, c2, SEP).to_tier) == \
        (1, "standard")
    assert current_tier(engine, c2).tier_code == "standard"
    # ... only the next evaluation.
    evaluate(engine, OCT)
    found = decision(engine, c2, OCT)
    assert (found.rule_version, found.to_tier, found.outcome) == (v2.id, "gold", "upgrade")
    october = explained(engine, c2, OCT)
    assert october["tiers"]["gold"] == {"min_adb": "40000.0000"}
    september = explained(engine, c2, SEP)
    assert (september["version"], september["tiers"]["gold"]) == (1, {"min_adb": "50000.0000"})
    # Each decision is told with its own version's names and thresholds.
    assert texts(app, october, "en").startswith(
        "Upgraded from Standard to Gold card: the figures meet Gold card (average daily AUM "
        "≥ 40,000.00).")
    assert "Gold needs average daily AUM ≥ 50,000.00." in texts(app, september, "en")


def test_re_evaluating_a_month_reflects_new_rules_without_counting_grace_twice(engine, ids) -> None:  # type: ignore[no-untyped-def]
    c1, c2 = ids["C1"], ids["C2"]
    months_of(engine, c1, 600_000, SEP)
    months_of(engine, c1, 450_000, OCT)
    months_of(engine, c2, 45_000, SEP, OCT)
    edit_rules(engine, window=1)
    evaluate(engine, SEP)
    first = evaluate(engine, OCT)
    assert tiers_of(engine, OCT)[c1] == ("platinum", "held")
    again = evaluate(engine, OCT)
    assert (first.replaced, again.replaced, again.counts) == (False, True, first.counts)
    assert decision(engine, c1, OCT).months_below == 1  # not 2
    assert current_tier(engine, c1).months_below == 1
    # The admin lowers Platinum and Gold and evaluates October again.
    edit_rules(engine, platinum={"min_adb": Decimal(400_000)},
               gold={"min_adb": Decimal(40_000)})
    evaluate(engine, OCT)
    assert tiers_of(engine, OCT)[c1] == ("platinum", "unchanged")
    assert tiers_of(engine, OCT)[c2] == ("gold", "upgrade")
    assert (current_tier(engine, c1).months_below, current_tier(engine, c2).tier_code) == \
        (0, "gold")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(TierDecision)
                              .where(TierDecision.month == OCT)) == 4


def test_an_earlier_or_incomplete_month_is_refused(engine, ids) -> None:  # type: ignore[no-untyped-def]
    evaluate(engine, OCT)
    with pytest.raises(Conflict):
        evaluate(engine, SEP)
    with pytest.raises(Invalid):
        evaluate(engine, NOV, business_date=BDATE)
    assert evaluate(engine, NOV, business_date=date(2026, 12, 1)).month == NOV


def test_the_nightly_job_evaluates_the_previous_month_once(app, engine, ids) -> None:  # type: ignore[no-untyped-def]
    months_of(engine, ids["C1"], 600_000, OCT)
    assert run_nightly(engine, date(2026, 10, 31), {"tier_evaluation"})["tier_evaluation"] == \
        {"month": "2026-09", "skipped": "no aggregates for the month"}
    result = run_nightly(engine, date(2026, 11, 2), {"tier_evaluation"})["tier_evaluation"]
    assert (result["month"], result["customers"]) == ("2026-10", 4)
    assert run_nightly(engine, date(2026, 11, 3), {"tier_evaluation"})["tier_evaluation"] == \
        {"month": "2026-10", "skipped": "evaluated already"}
    assert tiers_of(engine, OCT)[ids["C1"]] == ("platinum", "new")


def test_the_demo_path_backfill_then_evaluate(app, engine, ids, runner) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(args=["tiers", "backfill", "--months", "3"]).exit_code == 0
    out = runner.invoke(args=["tiers", "evaluate"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("2026-10: 4 customers under rules version 1: new 4")
    # 张三: 150,000 savings + USD 1,000 + the fund; 李四's time deposit is 50,000 since
    # its deposit on Nov 20: before, nothing.
    assert {c: t for c, (t, _) in tiers_of(engine, OCT).items()} == {
        ids["C1"]: "gold", ids["C2"]: "standard", ids["C3"]: "standard",
        ids["C4"]: "standard"}
    again = runner.invoke(args=["tiers", "evaluate", "--month", "2026-10", "--json"])
    assert '"replaced": true' in again.output
    refused = runner.invoke(args=["tiers", "evaluate", "--month", "2026-11"])
    assert refused.exit_code != 0 and "not complete" in refused.output
    shown = runner.invoke(args=["tiers", "rules"])
    assert "version 1" in shown.output and "Private Banking" in shown.output


# -- explanations ---------------------------------------------------------------------------

def texts(app, explanation, locale: str) -> str:  # type: ignore[no-untyped-def]
    with app.test_request_context(headers={"Accept-Language": locale}):
        return explain.describe(explanation)


def test_explanations_say_why_in_both_languages(app, engine, ids) -> None:  # type: ignore[no-untyped-def]
    grace_run(engine, ids["C1"], [600_000, 420_000, 420_000])
    held = explained(engine, ids["C1"], date(2026, 5, 1))
    assert held["code"] == "held" and held["below_for"] == 2
    english = texts(app, held, "en")
    assert english.startswith("Held at Platinum: 2 of 3 grace months used. The figures "
                              "qualify for Gold only; Platinum needs average daily AUM ≥ "
                              "500,000.00.")
    assert "average daily AUM 420,000.00 over 1 months" in english
    chinese = texts(app, held, "zh-CN")
    assert "白金" in chinese and "2" in chinese and "420,000.00" in chinese
    new = texts(app, explained(engine, ids["C1"], date(2026, 3, 1)), "en")
    assert new.startswith("First evaluation: Platinum, whose conditions the figures meet "
                          "(average daily AUM ≥ 500,000.00). Diamond needs average daily "
                          "AUM ≥ 2,000,000.00.")


def test_every_outcome_has_its_own_explanation(app, engine, ids) -> None:  # type: ignore[no-untyped-def]
    grace_run(engine, ids["C1"], [60_000, 600_000, 600_000, 60_000, 60_000, 60_000])
    rendered = {decision(engine, ids["C1"], date(2026, 3 + i, 1)).outcome:
                texts(app, explained(engine, ids["C1"], date(2026, 3 + i, 1)), "en")
                for i in range(6)}
    assert rendered["new"].startswith("First evaluation: Gold")
    assert rendered["upgrade"].startswith("Upgraded from Gold to Platinum: the figures meet "
                                          "Platinum (average daily AUM ≥ 500,000.00).")
    assert rendered["unchanged"].startswith("Stays Platinum")
    assert rendered["downgrade"].startswith(
        "Downgraded from Platinum to Gold: below Platinum (average daily AUM ≥ 500,000.00) "
        "for 3 consecutive evaluated months, the grace period of 3 months.")
    assert texts(app, {}, "en") == texts(app, {"code": "nonsense"}, "en") == \
        "No explanation recorded."


def test_conditions_read_with_and_or(app) -> None:  # type: ignore[no-untyped-def]
    tier = {"min_adb": "50000.0000",
            "min_contribution": "100.0000", "min_products": 2, "combine": "any"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert explain.conditions({"tiers": {"gold": tier}}, "gold") == (
            "average daily AUM ≥ 50,000.00 or monthly contribution ≥ 100.00 or at least 2 "
            "products")
        assert explain.conditions({"tiers": {"gold": {**tier, "combine": "all"}}}, "gold") \
            .count(" and ") == 2


def test_the_evaluation_compiles_for_oracle(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        plan = evaluation.Plan(OCT, rules.current(session), SEP, None)
    compiled = [str(s.compile(dialect=oracle.dialect()))
                for s in evaluation.statements(plan, "oracle")]
    assert [c.split()[0] for c in compiled] == ["INSERT", "UPDATE", "INSERT"]
    # Oracle has no UPDATE … FROM: correlated subqueries instead.
    assert "FROM tier_decisions" in compiled[1]
    assert " IS 0" not in compiled[0]


def test_customer_tier_rows_follow_the_latest_decision(engine, ids) -> None:  # type: ignore[no-untyped-def]
    months_of(engine, ids["C1"], 600_000, OCT, NOV)
    evaluate(engine, OCT)
    evaluate(engine, NOV)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CustomerTier)) == 4
        latest = {d.customer_id: d.month for d in session.scalars(
            select(TierDecision).order_by(TierDecision.month))}
    assert set(latest.values()) == {NOV}  # each tier's latest decision
    assert current_tier(engine, ids["C1"]).since == NOV  # unchanged since October's decision
    assert DEC == evaluation.add_months(NOV, 1)


def test_re_evaluating_a_month_does_not_tell_the_rm_again_of_the_same_change(  # type: ignore[no-untyped-def]
        engine, ids) -> None:
    c1, c2 = ids["C1"], ids["C2"]
    months_of(engine, c1, 600_000, SEP, OCT)
    months_of(engine, c2, 45_000, SEP, OCT)
    edit_rules(engine, window=1)
    evaluate(engine, SEP)
    months_of(engine, c1, 2_500_000, OCT)  # C1 goes up to Diamond in October
    evaluate(engine, OCT)
    with Session(engine) as session, session.begin():
        told = session.scalar(select(TierDecision).where(TierDecision.customer_id == c1,
                                                         TierDecision.month == OCT))
        assert told is not None and told.outcome == "upgrade"
        told.notified_at = told.decided_at  # the follow-up job told the RM
    # The same change decided again keeps its notification; a new change does not.
    edit_rules(engine, gold={"min_adb": Decimal(40_000)})
    evaluate(engine, OCT)
    assert decision(engine, c1, OCT).notified_at is not None
    assert decision(engine, c2, OCT).outcome == "upgrade"
    assert decision(engine, c2, OCT).notified_at is None

"""Demo activity for the demo bank: a few months of contacts, opportunities at every stage
and some manual tasks for each RM, so the workbench has something to show on `make run`.

Deterministic for a seed; written once (refused when contacts already exist). The nightly
jobs (``crm nightly``) then add the generated tasks and confirm won opportunities."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from integration.models import Customer, Product
from portal.models import User
from portal.scope import effective_manager
from portal.workbench.models import (
    LOST_REASONS,
    OPEN_STAGES,
    Contact,
    Opportunity,
    OpportunityStageChange,
    Task,
)

OUTCOMES = {
    "relationship": ["客户近况良好，维护关系", "节日问候，客户表示感谢", "了解家庭情况，子女明年留学"],
    "service": ["协助办理手机银行开通", "解答转账限额问题", "协助更新预留手机号"],
    "sales": ["介绍稳健型理财，客户有兴趣", "客户考虑大额存单，约下周再谈", "客户暂无购买意向"],
    "review": ["检视持仓，建议适当分散配置", "基金浮盈，客户希望继续持有"],
    "kyc": ["客户补充了职业信息", "身份证即将到期，提醒更新"],
}
NEXT_STEPS = ["下周电话回访", "准备产品对比方案", "邀请参加理财沙龙", None, None]
TASK_TITLES = ["准备季度资产检视报告", "整理高净值客户名单", "电话回访上月新客户", "更新客户联系方式"]
STAGE_WEIGHTS = {"lead": 5, "contacted": 4, "needs_analysis": 3, "proposal": 3, "won": 3, "lost": 2}
SALE_CATEGORIES = ("FUND", "WEALTH", "INSURANCE", "BOND", "TIME_DEPOSIT")


@dataclass(frozen=True)
class DemoActivity:
    contacts: int
    opportunities: int
    tasks: int


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(1, 9), rng.choice((0, 15, 30, 45))),
                            tzinfo=timezone.utc)  # 09:00–17:45 Beijing time


def write_demo_activity(session: Session, as_of: date, seed: int = 20261125,
                        per_rm: int = 12) -> DemoActivity:
    """Contacts for about a third of each RM's customers, ``per_rm`` opportunities and a
    few manual tasks per RM, dated in the 120 days up to ``as_of``."""
    if session.scalar(select(func.count()).select_from(Contact)):
        raise ValueError("the database already has contacts: demo activity is written once")
    rng = random.Random(seed)
    products = list(session.scalars(select(Product.code).where(
        Product.category.in_(SALE_CATEGORIES), Product.closed.is_(False))
        .order_by(Product.code)))
    staff = list(session.execute(
        select(User.id, User.staff_id).where(User.role.in_(("rm", "advisor")),
                                             User.active.is_(True), User.staff_id.is_not(None))
        .order_by(User.staff_id)))
    manager = effective_manager().label("manager")
    contacts: list[dict[str, object]] = []
    opportunities: list[dict[str, object]] = []
    tasks: list[dict[str, object]] = []
    for user_id, staff_id in staff:
        book = list(session.execute(
            select(Customer.id, Customer.branch_code)
            .where(Customer.manager_staff_id == staff_id, manager == staff_id,
                   Customer.status != "CLOSED").order_by(Customer.id)))
        if not book:
            continue
        for customer_id, branch in rng.sample(book, max(1, len(book) // 3)):
            for _ in range(rng.randint(1, 3)):
                purpose = rng.choice(list(OUTCOMES))
                contacts.append({
                    "customer_id": customer_id, "staff_id": staff_id, "user_id": user_id,
                    "branch_code": branch,
                    "contacted_at": _at(as_of - timedelta(days=rng.randint(0, 120)), rng),
                    "channel": rng.choice(("visit", "call", "call", "meeting", "message")),
                    "purpose": purpose, "outcome": rng.choice(OUTCOMES[purpose]),
                    "next_step": rng.choice(NEXT_STEPS)})
        for customer_id, branch in rng.sample(book, min(per_rm, len(book))):
            stage = rng.choices(list(STAGE_WEIGHTS), weights=list(STAGE_WEIGHTS.values()))[0]
            created = as_of - timedelta(days=rng.randint(10, 90))
            opportunities.append({
                "customer_id": customer_id, "owner_staff_id": staff_id, "branch_code": branch,
                "product_code": rng.choice(products),
                "amount": Decimal(rng.choice((5, 10, 20, 30, 50, 100, 200))) * 10000,
                "stage": stage,
                "expected_close": as_of + timedelta(days=rng.randint(-20, 80)),
                "lost_reason": rng.choice(LOST_REASONS) if stage == "lost" else None,
                "won_on": created + timedelta(days=rng.randint(5, 9)) if stage == "won" else None,
                "lost_on": created + timedelta(days=rng.randint(5, 9)) if stage == "lost" else None,
                "created_by": user_id, "created_at": _at(created, rng),
                "updated_at": _at(created + timedelta(days=10), rng)})
        for title in rng.sample(TASK_TITLES, 2):
            tasks.append({
                "assignee_staff_id": staff_id, "branch_code": book[0][1], "kind": "manual",
                "title": title, "due_date": as_of + timedelta(days=rng.randint(-3, 10)),
                "priority": rng.choice(("high", "normal", "low")), "status": "open",
                "created_by": user_id, "created_at": _at(as_of - timedelta(days=5), rng)})
    if contacts:
        session.execute(insert(Contact), contacts)
    if tasks:
        session.execute(insert(Task), tasks)
    for row in opportunities:  # few: each needs its id for the stage history
        opportunity = Opportunity(**row)
        session.add(opportunity)
        session.flush()
        path = (["lead"] + [s for s in OPEN_STAGES[1:] if rng.random() < .8]
                if opportunity.stage != "lead" else ["lead"])
        if opportunity.stage in OPEN_STAGES:
            path = [s for s in path if OPEN_STAGES.index(s) < OPEN_STAGES.index(
                opportunity.stage)] + [opportunity.stage]
        else:
            path.append(opportunity.stage)
        previous = None
        for k, stage in enumerate(dict.fromkeys(path)):
            session.add(OpportunityStageChange(
                opportunity_id=opportunity.id, from_stage=previous, to_stage=stage,
                changed_by=row["created_by"],
                changed_at=opportunity.created_at + timedelta(days=2 * k)))
            previous = stage
    session.flush()
    return DemoActivity(len(contacts), len(opportunities), len(tasks))

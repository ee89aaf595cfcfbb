"""The demo bank: a realistic, deterministic city commercial bank, written as feed files.

``write_demo(DemoSpec(...), out_dir)`` writes what the bank's three source systems would
deliver for one business date, in the order they are to be imported:

1. ``CBS`` sequence 1 — the core-banking initial load: FX rates, the branch tree, deposit /
   time-deposit / loan products, every customer, their current, savings, foreign-currency,
   time-deposit and loan accounts and ``months`` months of transactions ending on the
   business date.
2. ``CARD`` sequence 1 — the credit-card system: ~40% of the customers under the card
   system's own ids (``K…``) with the same identity document, their card accounts and card
   spending / repayments.
3. ``WMS`` sequence 1 — wealth management: ~25% of the customers (``W…``, more of the
   wealthy ones) and their holdings of funds, wealth products, insurance and bonds. The cash
   side of purchases and redemptions is on the customer's CBS current account.
4. ``CBS`` sequence 2 — the daily file of the business date: new customers, changed
   customers, new transactions with the changed balances, one time deposit closed.
5. ``CARD`` sequence 2 — the card customer the first card file lacked.

Every file carries the branch tree and the products it refers to, so CARD and WMS can be
loaded alone. All files have the spec's business date; on ties CBS wins survivorship, so
where CARD holds a different (newer) mobile or address the golden record keeps CBS's value
and CARD contributes what CBS lacks (e-mail for most, occupation and income from WMS).

Designed data-quality cases (everything else imports clean):

* ``CARD#1`` has a card account (and two transactions on it) of a CARD customer that only
  ``CARD#2`` delivers: 3 records wait in quarantine and are released by ``CARD#2``.
* ``WMS#1`` has one holding of a newly launched product (``WM-NEW01``) that is not in the
  product catalogue yet: it stays in quarantine for an operator to release or discard.
* One CBS customer's resident ID fails its GB 11643 checksum: loaded with a data-quality
  warning and not merged with other sources (the person is only in CBS).

Memory stays flat at any size: each customer is derived from ``random.Random(f"{seed}:{i}")``
(and per-month generators for transactions), the files are written in passes over the
customers (customers, then accounts, then transactions) and nothing is held between them.
"""
from __future__ import annotations

import calendar
import functools
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterator, NamedTuple

from integration.feedwriter import FeedWriter
from integration.identity import resident_id_check_char

__all__ = ["DemoSpec", "write_demo", "staff_directory", "demo_roles", "BANK_NAME", "ROLES",
           "NEW_PRODUCT"]

BANK_NAME = "钱塘银行"
CARD_CENTRE = "钱塘银行信用卡中心"
WEALTH_CO = "钱塘理财有限责任公司"
CNY = "CNY"
TZ_BEIJING = timezone(timedelta(hours=8))
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
LARGE_CASH = 50_000  # RMB; the AML reporting threshold

# -- spec --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSpec:
    seed: int = 20261120
    customers: int = 2000
    months: int = 12
    # None: yesterday. Files are deterministic for a given (seed, customers, months, date).
    business_date: date | None = None

    def resolved_date(self) -> date:
        return self.business_date or date.today() - timedelta(days=1)


# -- reference data ----------------------------------------------------------------------


class _Branch(NamedTuple):
    code: str
    name: str
    city: str
    parent: str | None


class _SubBranch(NamedTuple):
    code: str
    name: str
    city: str
    parent: str
    district: str
    weight: float
    rms: int                      # relationship managers at the default size
    area_codes: tuple[str, ...]   # resident-ID area codes of the district
    roads: tuple[str, ...]


HEAD_OFFICE = _Branch("0001", f"{BANK_NAME}总行", "杭州", None)
BRANCHES = (
    _Branch("3301", f"{BANK_NAME}杭州分行", "杭州", "0001"),
    _Branch("3302", f"{BANK_NAME}宁波分行", "宁波", "0001"),
)
SUB_BRANCHES = (
    _SubBranch("330101", f"{BANK_NAME}杭州西湖支行", "杭州", "3301", "西湖区", 0.22, 6,
               ("330106", "330105", "330102"),
               ("文三路", "天目山路", "文一西路", "教工路", "古墩路", "学院路", "西溪路")),
    _SubBranch("330102", f"{BANK_NAME}杭州滨江支行", "杭州", "3301", "滨江区", 0.18, 6,
               ("330108",), ("江南大道", "滨盛路", "长河路", "江晖路", "网商路", "闻涛路")),
    _SubBranch("330103", f"{BANK_NAME}杭州萧山支行", "杭州", "3301", "萧山区", 0.17, 5,
               ("330109",), ("市心中路", "金城路", "人民路", "北干山南路", "萧然南路", "育才路")),
    _SubBranch("330104", f"{BANK_NAME}杭州余杭支行", "杭州", "3301", "余杭区", 0.17, 5,
               ("330110",), ("五常大道", "良渚路", "临平大道", "南苑街", "世纪大道", "文一西路")),
    _SubBranch("330201", f"{BANK_NAME}宁波海曙支行", "宁波", "3302", "海曙区", 0.13, 5,
               ("330203",), ("中山西路", "解放南路", "望京路", "柳汀街", "段塘路", "环城西路")),
    _SubBranch("330202", f"{BANK_NAME}宁波鄞州支行", "宁波", "3302", "鄞州区", 0.13, 5,
               ("330212",), ("四明中路", "天童南路", "钱湖北路", "嵩江中路", "首南中路", "鄞县大道")),
)
_SUB_WEIGHTS = [s.weight for s in SUB_BRANCHES]
_SUB_BY_CODE = {s.code: s for s in SUB_BRANCHES}

ZHEJIANG_AREAS = ("330302", "330402", "330502", "330602", "330702", "330782", "331002",
                  "330881", "330381", "330681")
OTHER_AREAS = ("340104", "341221", "360102", "362330", "410105", "411522", "420106",
               "430102", "510104", "500101", "320102", "320583", "350102", "370102",
               "220102", "230102", "450102", "610104", "110105", "310115", "522601")


class _Product(NamedTuple):
    code: str
    name: str
    category: str
    risk: str
    currency: str
    min_amount: str
    term_days: int | None = None
    expected_return: str | None = None


CBS_PRODUCTS = (
    _Product("DEP-CUR", "个人活期储蓄存款", "DEPOSIT", "R1", CNY, "0.00", None, "0.10"),
    _Product("DEP-NTC", "个人七天通知存款", "DEPOSIT", "R1", CNY, "50000.00", 7, "0.45"),
    _Product("DEP-USD", "个人外币活期存款(美元)", "DEPOSIT", "R1", "USD", "0.00", None, "0.05"),
    _Product("TD-3M", "整存整取定期存款三个月", "TIME_DEPOSIT", "R1", CNY, "50.00", 91, "0.90"),
    _Product("TD-6M", "整存整取定期存款六个月", "TIME_DEPOSIT", "R1", CNY, "50.00", 182, "1.10"),
    _Product("TD-1Y", "整存整取定期存款一年", "TIME_DEPOSIT", "R1", CNY, "50.00", 365, "1.30"),
    _Product("TD-2Y", "整存整取定期存款二年", "TIME_DEPOSIT", "R1", CNY, "50.00", 730, "1.40"),
    _Product("TD-3Y", "整存整取定期存款三年", "TIME_DEPOSIT", "R1", CNY, "50.00", 1095, "1.75"),
    _Product("CD-3Y", "个人大额存单三年期", "TIME_DEPOSIT", "R2", CNY, "200000.00", 1095, "2.05"),
    _Product("LN-MORT", "个人住房按揭贷款", "LOAN", "R1", CNY, "100000.00"),
    _Product("LN-CONS", "个人消费贷款(钱塘e贷)", "LOAN", "R1", CNY, "10000.00"),
)
CARD_PRODUCTS = (
    _Product("CC-STD", "钱塘信用卡普卡", "CARD", "R1", CNY, "0.00"),
    _Product("CC-GOLD", "钱塘信用卡金卡", "CARD", "R1", CNY, "0.00"),
    _Product("CC-PLAT", "钱塘信用卡白金卡", "CARD", "R1", CNY, "0.00"),
)
WMS_PRODUCTS = (
    _Product("FD-BOND01", "钱塘稳健债券A", "FUND", "R2", CNY, "10.00", None, "3.20"),
    _Product("FD-BAL01", "钱塘均衡配置混合", "FUND", "R3", CNY, "10.00"),
    _Product("FD-GROW01", "钱塘成长精选混合", "FUND", "R4", CNY, "10.00"),
    _Product("FD-IDX300", "沪深300指数增强A", "FUND", "R4", CNY, "10.00"),
    _Product("FD-TECH01", "科技创新股票", "FUND", "R5", CNY, "10.00"),
    _Product("FD-QDII01", "全球科技QDII", "FUND", "R5", CNY, "100.00"),
    _Product("WM-STB180", "钱塘稳享180天理财", "WEALTH", "R2", CNY, "10000.00", 180, "2.85"),
    _Product("WM-FY1Y", "钱塘丰盈一年期理财", "WEALTH", "R3", CNY, "10000.00", 365, "3.40"),
    _Product("WM-EQ01", "钱塘进取权益理财", "WEALTH", "R4", CNY, "50000.00", 730, "5.00"),
    _Product("WM-USD90", "钱塘美元稳享90天", "WEALTH", "R2", "USD", "1000.00", 90, "4.20"),
    _Product("INS-ANNU", "钱塘安享年金保险", "INSURANCE", "R2", CNY, "10000.00", 3650, "2.50"),
    _Product("INS-WL", "增额终身寿险(尊享版)", "INSURANCE", "R2", CNY, "20000.00", None, "2.50"),
    _Product("BD-SAV3Y", "储蓄国债(电子式)三年期", "BOND", "R1", CNY, "100.00", 1095, "2.38"),
)
_WMS_BY_CODE = {p.code: p for p in WMS_PRODUCTS}
_CBS_BY_CODE = {p.code: p for p in CBS_PRODUCTS}
NEW_PRODUCT = "WM-NEW01"  # held in WMS#1, not in any catalogue: the designed quarantine case

FX_BASE = {"USD": 7.1320, "EUR": 7.7460, "HKD": 0.9168, "JPY": 0.0473}

SURNAMES = (
    ("王", "wang", 7), ("李", "li", 7), ("张", "zhang", 7), ("陈", "chen", 7), ("刘", "liu", 5),
    ("徐", "xu", 4), ("周", "zhou", 4), ("吴", "wu", 4), ("杨", "yang", 3), ("黄", "huang", 3),
    ("沈", "shen", 3), ("朱", "zhu", 3), ("胡", "hu", 3), ("赵", "zhao", 2), ("孙", "sun", 2),
    ("金", "jin", 2), ("钱", "qian", 2), ("蒋", "jiang", 2), ("俞", "yu", 2), ("林", "lin", 2),
    ("叶", "ye", 2), ("方", "fang", 2), ("楼", "lou", 1), ("应", "ying", 1), ("马", "ma", 1),
    ("郭", "guo", 1), ("何", "he", 1), ("罗", "luo", 1), ("高", "gao", 1), ("郑", "zheng", 1),
    ("梁", "liang", 1), ("谢", "xie", 1), ("宋", "song", 1), ("唐", "tang", 1), ("韩", "han", 1),
    ("冯", "feng", 1), ("邓", "deng", 1), ("曹", "cao", 1), ("潘", "pan", 1), ("汪", "wang", 1),
    ("丁", "ding", 1), ("杜", "du", 1), ("范", "fan", 1), ("姚", "yao", 1), ("陆", "lu", 1),
    ("章", "zhang", 1), ("傅", "fu", 1), ("袁", "yuan", 1), ("程", "cheng", 1), ("戴", "dai", 1),
    ("童", "tong", 1), ("许", "xu", 1), ("邵", "shao", 1), ("毛", "mao", 1),
)
_SURNAME_WEIGHTS = [w for _, _, w in SURNAMES]
GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林建国志文东海峰晨阳博成然轩睿哲航毅"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲英燕萍红婷雪琳洁颖倩慧莉梅琴云蕾薇欣怡佳雯璐瑶婧晴悦涵萱琪"
LATIN_SURNAMES = ("SMITH", "MUELLER", "KIM", "TANAKA", "NGUYEN", "GARCIA", "MARTIN", "ROSSI")
LATIN_GIVEN = ("JOHN", "MICHAEL", "ANNA", "MARIA", "DAVID", "YUKI", "SOPHIE", "MINJUN")

MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
                   "150", "151", "152", "153", "155", "156", "157", "158", "159",
                   "180", "181", "182", "183", "184", "185", "186", "187", "188", "189")
MAIL_DOMAINS = ("163.com", "126.com", "qq.com", "sina.com", "139.com", "foxmail.com")
COMPOUND_A = ("金色", "翠苑", "阳光", "江南", "绿城", "锦绣", "望湖", "春江", "云栖", "紫金",
              "桂花", "香樟", "东方", "世纪", "丽都", "半岛")
COMPOUND_B = ("花园", "家园", "公寓", "新村", "名苑", "华府", "雅苑", "小区")
OTHER_BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "交通银行",
               "招商银行", "浙商银行", "兴业银行", "中国邮政储蓄银行", "宁波银行")

# Occupation: (weight, monthly income range in RMB, kind)
OCCUPATIONS = (
    ("企业职员", 30, (5500, 14000), "salary"),
    ("工程师", 8, (9000, 22000), "salary"),
    ("软件工程师", 6, (15000, 40000), "salary"),
    ("公务员", 5, (8000, 16000), "salary"),
    ("教师", 6, (7500, 15000), "salary"),
    ("医生", 3, (12000, 35000), "salary"),
    ("护士", 3, (6500, 12000), "salary"),
    ("销售经理", 6, (8000, 25000), "salary"),
    ("会计", 5, (6500, 13000), "salary"),
    ("律师", 1, (15000, 45000), "salary"),
    ("工厂工人", 6, (4800, 8000), "salary"),
    ("快递员", 2, (5500, 9500), "salary"),
    ("个体工商户", 8, (8000, 40000), "business"),
    ("私营企业主", 4, (30000, 150000), "business"),
    ("自由职业", 5, (5000, 20000), "freelance"),
    ("家庭主妇", 2, (3000, 8000), "family"),
)
_OCC_WEIGHTS = [o[1] for o in OCCUPATIONS]
EMPLOYER_WORDS = ("云帆", "启明", "博远", "瀚海", "晨曦", "锦程", "汇通", "鼎盛", "卓越", "恒泰",
                  "优品", "致远", "明德", "中扬", "鸿图", "天衡", "聚贤", "联创", "新禾", "远景")
EMPLOYER_SUFFIX = ("网络科技有限公司", "电子商务有限公司", "智能制造有限公司", "建设工程有限公司",
                   "进出口贸易有限公司", "医疗器械有限公司", "物流有限公司", "餐饮管理有限公司",
                   "信息技术股份有限公司", "纺织有限公司", "汽车零部件有限公司", "文化传媒有限公司")
MERCHANTS = (  # (name, channel, low, high, weight)
    ("邻里生鲜超市", "POS", 30, 400, 10), ("家乐汇超市", "POS", 40, 600, 8),
    ("湖畔小馆", "POS", 60, 500, 6), ("江南面馆", "POS", 20, 120, 6),
    ("老杭帮菜馆", "POS", 150, 900, 4), ("城西加油站", "POS", 200, 500, 5),
    ("星光购物中心", "POS", 200, 3000, 3), ("安康大药房", "POS", 20, 300, 3),
    ("星河影城", "POS", 60, 260, 2), ("云购商城", "ONLINE", 30, 2000, 10),
    ("优品电商平台", "ONLINE", 20, 1500, 8), ("闪送外卖平台", "ONLINE", 25, 150, 9),
    ("畅游旅行网", "ONLINE", 500, 8000, 2), ("蓝天航空票务", "ONLINE", 600, 5000, 1),
)
_MERCHANT_WEIGHTS = [m[4] for m in MERCHANTS]
ONLINE_PAYEES = ("快捷支付-云购商城", "快捷支付-闪送外卖平台", "快捷支付-优品电商平台",
                 "快捷支付-城市出行", "快捷支付-视频会员")

BIRTH_START = date(1950, 1, 1)
BIRTH_DAYS = (date(2004, 12, 31) - BIRTH_START).days + 1
_ID_SPACE = BIRTH_DAYS * 1000          # (birth date, 3-digit sequence) slots
_ID_MULTIPLIER = 7_368_787             # coprime with _ID_SPACE: i -> slot is one-to-one
_CARD_SPACE, _CARD_MULT = 999_999_937, 48_271
_WMS_SPACE, _WMS_MULT = 999_999_929, 69_621
assert math.gcd(_ID_MULTIPLIER, _ID_SPACE) == 1

# Designated customers: one each, spread over the book (see demo_roles).
ROLES = ("vip", "dormant", "large_cash", "td_maturing", "td_matures_today", "bad_id",
         "card_late", "merged", "kyc_due", "id_expiring", "no_manager", "wms_new_product")


# -- small helpers -----------------------------------------------------------------------


def _money(value: float | int | Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def _round_to(value: float, step: int) -> Decimal:
    return Decimal(max(step, int(round(value / step)) * step)).quantize(CENT)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _on(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _workday(d: date) -> date:
    """Payroll on a weekend is paid the Friday before."""
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _loguniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _luhn(digits: str) -> str:
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        d = int(ch)
        if pos % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10 ** n))


def _chinese_name(rng: random.Random, gender: str) -> tuple[str, str]:
    surname, pinyin, _ = rng.choices(SURNAMES, _SURNAME_WEIGHTS)[0]
    pool = GIVEN_MALE if gender == "M" else GIVEN_FEMALE
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
    return surname + given, pinyin


def _person_name(rng: random.Random) -> str:
    return _chinese_name(rng, rng.choice("MF"))[0]


def _other_account(rng: random.Random) -> tuple[str, str]:
    """Someone's account at some bank: (account number, bank)."""
    return "62" + _digits(rng, 17), rng.choice(OTHER_BANKS + (BANK_NAME,) * 3)


@functools.lru_cache(maxsize=8192)
def _employer(seed: int, k: int, city: str) -> tuple[str, str, str]:
    rng = random.Random(f"{seed}:employer:{k}:{city}")
    roll = rng.random()
    if roll < 0.08:
        name = f"{city}市第{rng.randint(1, 30)}人民医院" if rng.random() < 0.5 else \
            f"{city}市第{rng.randint(1, 40)}中学"
    elif roll < 0.14:
        name = f"{city}市{rng.choice(('财政局', '税务局', '市场监督管理局', '教育局', '人力社保局'))}"
    else:
        name = f"{city}{rng.choice(EMPLOYER_WORDS)}{rng.choice(EMPLOYER_SUFFIX)}"
    bank = BANK_NAME if rng.random() < 0.7 else rng.choice(OTHER_BANKS)
    return name, "1202" + _digits(rng, 15), bank


def _fx_rates(seed: int, business_date: date) -> dict[str, Decimal]:
    rng = random.Random(f"{seed}:fx:{business_date.isoformat()}")
    return {
        cur: Decimal(base * (1 + rng.uniform(-0.01, 0.01))).quantize(RATE_PLACES, ROUND_HALF_UP)
        for cur, base in FX_BASE.items()
    }


# -- the staff ---------------------------------------------------------------------------


def _scale(customers: int) -> int:
    return max(1, math.ceil(customers / 2500))


def staff_directory(spec: DemoSpec) -> list[dict[str, str]]:
    """The bank's customer-facing staff: RMs and wealth advisers of each sub-branch (ids
    ``RM…``, the values of Customer/Manager), a manager for each branch and sub-branch
    (``BM…``) and a head-office analyst. Deterministic for (seed, customers)."""
    scale = _scale(spec.customers)
    staff: list[dict[str, str]] = []
    number = 0
    for sub in SUB_BRANCHES:
        for role, count in (("rm", sub.rms * scale), ("advisor", scale)):
            for _ in range(count):
                number += 1
                rng = random.Random(f"{spec.seed}:staff:{number}")
                staff.append({"staff_id": f"RM{number:04d}", "name": _person_name(rng),
                              "branch": sub.code, "role": role})
    codes = [b.code for b in BRANCHES] + [s.code for s in SUB_BRANCHES]
    for k, code in enumerate(codes, start=1):
        rng = random.Random(f"{spec.seed}:manager:{k}")
        staff.append({"staff_id": f"BM{k:04d}", "name": _person_name(rng),
                      "branch": code, "role": "branch_manager"})
    rng = random.Random(f"{spec.seed}:analyst")
    staff.append({"staff_id": "HO0001", "name": _person_name(rng), "branch": HEAD_OFFICE.code,
                  "role": "analyst"})
    return staff


def demo_roles(spec: DemoSpec) -> dict[str, str]:
    """The CBS customer id of each designated demo customer (see ROLES)."""
    return {role: _cbs_id(index) for role, index in _role_indices(spec.customers).items()}


def _role_indices(customers: int) -> dict[str, int]:
    n = len(ROLES)
    return {role: customers * (2 * k + 1) // (2 * n) for k, role in enumerate(ROLES)}


def _cbs_id(i: int) -> str:
    return f"C{i + 1:09d}"


# -- one customer ------------------------------------------------------------------------


class _Acct:
    __slots__ = ("id", "product", "type", "currency", "target", "open_date", "maturity",
                 "rate", "status", "overdue_days", "limit", "missed_from", "installment",
                 "pay_day", "principal", "overdue")

    def __init__(self, id: str, product: str, type: str, currency: str, target: Decimal,
                 open_date: date, rate: Decimal | None = None, maturity: date | None = None,
                 status: str = "ACTIVE") -> None:
        self.id, self.product, self.type, self.currency = id, product, type, currency
        self.target, self.open_date, self.rate, self.maturity = target, open_date, rate, maturity
        self.status = status
        self.overdue_days: int | None = None
        self.limit: Decimal | None = None
        self.missed_from: date | None = None  # first missed due date (overdue)
        self.installment = Decimal(0)
        self.pay_day = 20
        self.principal = Decimal(0)
        self.overdue = False  # a card whose last statements were not paid


class _Holding:
    __slots__ = ("id", "product", "units", "value", "currency", "cost", "buy_date", "buy_amount",
                 "sip_amount", "sip_start", "premium")

    def __init__(self, id: str, product: _Product) -> None:
        self.id, self.product, self.currency = id, product, product.currency
        self.units = self.value = self.cost = self.buy_amount = Decimal(0)
        self.buy_date: date | None = None
        self.sip_amount = Decimal(0)
        self.sip_start: date | None = None
        self.premium = Decimal(0)


class _Event(NamedTuple):
    day: date
    account: str
    amount: Decimal
    type: str
    channel: str
    counterparty: tuple[str | None, str | None, str | None] | None
    narrative: str | None


class _Person:
    """Everything about customer ``i`` except transactions (re-derived in every pass)."""

    def __init__(self, ctx: _Context, i: int) -> None:  # noqa: C901 - one recipe
        rng = random.Random(f"{ctx.seed}:{i}")
        bd = ctx.bd
        role = ctx.role_of.get(i)
        self.i, self.role, self.new = i, role, i >= ctx.customers
        self.cbs_id = _cbs_id(i)
        self.card_id = f"K{(_CARD_MULT * i + ctx.seed) % _CARD_SPACE:09d}"
        self.wms_id = f"W{(_WMS_MULT * i + ctx.seed * 7) % _WMS_SPACE:09d}"

        slot = (_ID_MULTIPLIER * i + ctx.seed) % _ID_SPACE
        day_index, sequence = divmod(slot, 1000)
        self.birth = BIRTH_START + timedelta(days=day_index)
        self.gender = "M" if sequence % 2 else "F"
        before_birthday = (bd.month, bd.day) < (self.birth.month, self.birth.day)
        self.age = bd.year - self.birth.year - before_birthday
        self.sub = SUB_BRANCHES[rng.choices(range(len(SUB_BRANCHES)), _SUB_WEIGHTS)[0]]
        doc_roll = rng.random()
        if role is not None or doc_roll < 0.985:
            area_roll = rng.random()
            area = (rng.choice(self.sub.area_codes) if area_roll < 0.55 else
                    rng.choice(ZHEJIANG_AREAS) if area_roll < 0.75 else rng.choice(OTHER_AREAS))
            first17 = f"{area}{self.birth:%Y%m%d}{sequence:03d}"
            check = resident_id_check_char(first17)
            if role == "bad_id":  # a typo in the core system: the checksum does not verify
                check = "10X98765432"[("10X98765432".index(check) + 3) % 11]
            self.doc_type, self.doc_number = "RESIDENT_ID", first17 + check
            self.name, pinyin = _chinese_name(rng, self.gender)
            if self.age >= 46 and rng.random() < 0.75:
                self.doc_expiry: date | None = None  # long-term (长期) resident ID
            else:
                self.doc_expiry = bd + timedelta(days=rng.randint(61, 20 * 365))
        else:
            kinds = ("PASSPORT", "HK_MACAO_PERMIT", "TAIWAN_PERMIT")
            self.doc_type = kinds[int(doc_roll * 1000) % 3]
            if self.doc_type == "PASSPORT":
                self.name = f"{rng.choice(LATIN_SURNAMES)} {rng.choice(LATIN_GIVEN)}"
                pinyin = self.name.split()[0].lower()
                self.doc_number = f"P{slot % 10**8:08d}"
            else:
                self.name, pinyin = _chinese_name(rng, self.gender)
                prefix = "H" if self.doc_type == "HK_MACAO_PERMIT" else "T"
                self.doc_number = f"{prefix}{slot % 10**8:08d}"
            self.doc_expiry = bd + timedelta(days=rng.randint(61, 10 * 365))
        if role == "id_expiring" or (role is None and rng.random() < 0.025):
            self.doc_expiry = bd + timedelta(days=rng.randint(1, 60))

        self.mobile = rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)
        self.email = (f"{pinyin}{rng.randint(1, 9999)}@{rng.choice(MAIL_DOMAINS)}"
                      if rng.random() < 0.6 else f"{rng.randint(10**5, 10**10)}@qq.com")
        self.address = self._address(rng)

        # Occupation and income
        if self.age < 23:
            occ = ("学生", 0, (1500, 4000), "student")
        elif self.age >= (60 if self.gender == "M" else 55) and rng.random() < 0.85:
            occ = ("退休人员", 0, (3200, 8000), "pension")
        else:
            occ = rng.choices(OCCUPATIONS, _OCC_WEIGHTS)[0]
        self.occupation, _, (low, high), self.income_kind = occ
        self.monthly = _round_to(_loguniform(rng, low, high), 10)
        bonus_months = rng.uniform(1, 4) if self.income_kind == "salary" else 0
        self.annual_income = _round_to(float(self.monthly) * (12 + bonus_months), 1000)
        self.bonus = _money(float(self.monthly) * bonus_months)
        self.employer = (_employer(ctx.seed, rng.randrange(ctx.employers), self.sub.city)
                         if self.income_kind == "salary" else None)
        self.pay_day = rng.choice((5, 10, 10, 15, 15, 20, 25, 28))

        # Customer since, manager, KYC
        earliest = max(date(2003, 1, 1), _add_months(self.birth, 12 * 18))
        latest = bd - timedelta(days=60)
        self.open_date = (earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
                          if latest > earliest else latest)
        if self.new:
            self.open_date = bd

        # Value: target assets under management, heavily skewed
        tier = rng.random()
        if self.income_kind == "business":
            tier *= 0.35
        elif self.income_kind == "student":
            tier = 0.5 + tier * 0.5
        elif self.income_kind == "pension" or self.age > 50:
            tier *= 0.8
        if role == "vip":
            tier = 0.0
        elif role in ("card_late", "bad_id", "no_manager") and tier < 0.14:
            tier += 0.14
        self.aum = (_loguniform(rng, 6_300_000, 25_000_000) if tier < 0.009 else
                    _loguniform(rng, 2_100_000, 5_900_000) if tier < 0.044 else
                    _loguniform(rng, 520_000, 1_950_000) if tier < 0.14 else
                    _loguniform(rng, 50_000, 490_000) if tier < 0.40 else
                    _loguniform(rng, 300, 49_000))

        # Dormancy (customer-initiated activity stopped 6+ months ago)
        self.dormant_since: date | None = None
        if not self.new and (role == "dormant" or (role is None and rng.random() < 0.05)):
            longest = min(ctx.months - 1, 20)
            months_ago = 7 if role == "dormant" else rng.randint(6, max(6, longest))
            if longest < 6:
                months_ago = ctx.months + rng.randint(1, 12)  # before the window
            self.dormant_since = _add_months(bd, -months_ago) - timedelta(days=rng.randint(1, 20))
            self.dormant_since = max(self.dormant_since, self.open_date)
            self.aum = _loguniform(rng, 500, 40_000)
        dormant = self.dormant_since is not None
        self.status = "DORMANT" if dormant and (role == "dormant" or rng.random() < 0.5) \
            else "ACTIVE"

        self.manager: str | None = None
        staff = ctx.staff_by_sub[self.sub.code]
        if not (role == "no_manager" or (role is None and rng.random() < 0.03)):
            if self.aum > 500_000 and rng.random() < 0.7:
                self.manager = rng.choice(staff[1])
            else:
                self.manager = rng.choice(staff[0])
        kyc_roll = rng.random()
        if role == "kyc_due" or (role is None and kyc_roll < 0.04):
            self.kyc_due = bd + timedelta(days=rng.randint(1, 60))
        elif kyc_roll < 0.05:
            self.kyc_due = bd - timedelta(days=rng.randint(1, 90))  # overdue
        else:
            self.kyc_due = bd + timedelta(days=rng.randint(61, 3 * 365))
        if self.new:
            self.kyc_due = _add_months(bd, 36)

        # What CBS knows that other systems may disagree about
        self.cbs_email = self.email if rng.random() < 0.35 else None
        self.cbs_occupation = self.occupation if rng.random() < 0.75 else None
        self.card_mobile = (rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)
                            if role == "merged" or rng.random() < 0.08 else self.mobile)
        self.card_address = self._address(rng) if rng.random() < 0.10 else self.address

        # Habits
        self.spend_ratio = (rng.uniform(0.97, 1.02) if self.aum < 50_000 else
                            rng.uniform(0.8, 1.0) if self.aum < 500_000 else rng.uniform(0.5, 0.9))
        self.utilities = rng.random() < 0.75
        self.util_day = rng.randint(3, 18)
        self.phone_plan = rng.choice((58, 88, 128, 158, 199))
        self.rent = self.age < 40 and self.income_kind != "student" and rng.random() < 0.3
        self.rent_amount = _round_to(rng.uniform(1800, 6500), 100)
        self.landlord = (_person_name(rng), *_other_account(rng))
        self.family = (_person_name(rng), *_other_account(rng))
        self.own_other = _other_account(rng)
        self.sms = rng.random() < 0.5
        self.activity = rng.uniform(0.3, 1.5)

        active = not dormant and not self.new
        self.in_card = active and role not in ("bad_id", "card_late", "dormant") and (
            role == "merged" or (self.age >= 20 and rng.random() < 0.45))
        wms_p = 0.9 if self.aum > 500_000 else 0.3 if self.aum > 50_000 else 0.05
        self.in_wms = active and role not in ("bad_id", "dormant") and self.income_kind != \
            "student" and (role in ("merged", "vip", "wms_new_product") or rng.random() < wms_p)

        self.accounts: list[_Acct] = []
        self.loans: list[_Acct] = []
        self.cards: list[_Acct] = []
        self.holdings: list[_Holding] = []
        self.scheduled: list[_Event] = []  # one-off events: AML, TD openings, wealth
        self._accounts(ctx, rng)
        if self.dormant_since and self.dormant_since >= max(ctx.ws, self.open_date):
            # the last thing the customer did before going quiet
            self.scheduled.append(_Event(self.dormant_since, self.accounts[0].id,
                                         -_round_to(rng.uniform(200, 1000), 100),
                                         "CASH_WITHDRAWAL", "ATM", None, "ATM取款"))
        if self.in_card or role == "card_late":
            self._cards(ctx, rng)
        if self.in_wms:
            self._holdings(ctx, rng)
        if role == "large_cash" or (active and role is None and rng.random() < 0.03):
            self._large_cash(ctx, rng)

    # -- parts --

    def _address(self, rng: random.Random) -> str:
        sub = self.sub
        return (f"浙江省{sub.city}市{sub.district}{rng.choice(sub.roads)}{rng.randint(1, 999)}号"
                f"{rng.choice(COMPOUND_A)}{rng.choice(COMPOUND_B)}{rng.randint(1, 30)}幢"
                f"{rng.randint(1, 4)}单元{rng.randint(1, 33)}{rng.randint(1, 4):02d}室")

    def _account_id(self, kind: str, k: int) -> str:
        return f"{self.sub.code}{kind}{self.i + 1:09d}{k}"

    def _accounts(self, ctx: _Context, rng: random.Random) -> None:
        bd, aum = ctx.bd, self.aum
        status = "DORMANT" if self.status == "DORMANT" else "ACTIVE"
        rest = aum
        usd = ntc = 0.0
        self.holdings_budget = 0.0
        tds: list[float] = []
        if not self.dormant_since:
            if aum > 300_000 and rng.random() < 0.25:
                usd = aum * rng.uniform(0.04, 0.12)
            if aum > 100_000 and rng.random() < 0.2:
                ntc = max(50_000, aum * rng.uniform(0.05, 0.15))
            holdings_share = rng.uniform(0.35, 0.7) if self.in_wms else 0.0
            rest = aum - usd - ntc - aum * holdings_share
            self.holdings_budget = aum * holdings_share
            wants_td = rest > 20_000 and rng.random() < 0.65
            if wants_td or self.role in ("td_maturing", "td_matures_today"):
                in_td = max(rest * rng.uniform(0.4, 0.8), 1000.0)
                parts = rng.randint(1, 3)
                tds = [in_td / parts] * parts
                rest -= in_td
        current = max(rest, rng.uniform(50, 3000))
        self.accounts.append(_Acct(self._account_id("01", 1), "DEP-CUR", "CURRENT", CNY,
                                   _money(current), self.open_date, Decimal("0.10"),
                                   status=status))
        if ntc:
            self.accounts.append(_Acct(
                self._account_id("02", 1), "DEP-NTC", "SAVINGS", CNY, _round_to(ntc, 1000),
                self._later_than(self.open_date, rng, bd), Decimal("0.45")))
        if usd:
            self.accounts.append(_Acct(
                self._account_id("03", 1), "DEP-USD", "CURRENT", "USD",
                _money(usd / float(ctx.rates["USD"])), self._later_than(self.open_date, rng, bd),
                Decimal("0.05")))
        for k, amount in enumerate(tds, start=1):
            if amount >= 200_000 and rng.random() < 0.5:
                product = _CBS_BY_CODE["CD-3Y"]
            else:
                product = _CBS_BY_CODE[rng.choice(("TD-3M", "TD-6M", "TD-1Y", "TD-1Y", "TD-2Y",
                                                   "TD-3Y"))]
            term = product.term_days or 365
            if k == 1 and self.role == "td_maturing":
                maturity = bd + timedelta(days=rng.randint(5, 25))
            elif k == 1 and self.role == "td_matures_today":
                maturity = bd
            else:
                maturity = bd + timedelta(days=rng.randint(1, term))
            opened = max(maturity - timedelta(days=term), self.open_date)
            acct = _Acct(self._account_id("11", k), product.code, "TIME_DEPOSIT", CNY,
                         _round_to(amount, 100 if amount < 10_000 else 1000), opened,
                         Decimal(product.expected_return or "0"), maturity)
            self.accounts.append(acct)
            if opened >= ctx.ws:
                self.scheduled.append(_Event(opened, self.accounts[0].id, -acct.target,
                                             "TRANSFER_OUT", "MOBILE", (self.name, acct.id,
                                                                        BANK_NAME), "转存定期"))
                self.scheduled.append(_Event(opened, acct.id, acct.target, "TRANSFER_IN",
                                             "MOBILE", (self.name, self.accounts[0].id,
                                                        BANK_NAME), "定期存款开户"))
        # Loans
        if not self.dormant_since and self.income_kind not in ("student", "pension"):
            if 27 <= self.age <= 58 and rng.random() < 0.14:
                self._loan(ctx, rng, "LN-MORT", 1, _round_to(
                    _loguniform(rng, 400_000, 3_000_000), 10_000), rng.choice((240, 300, 360)),
                    rng.uniform(3.05, 4.1), rng.randint(6, 150))
            if rng.random() < 0.07:
                self._loan(ctx, rng, "LN-CONS", 2, _round_to(
                    _loguniform(rng, 20_000, 300_000), 1000), 36, rng.uniform(3.6, 6.0),
                    rng.randint(1, 34))

    def _later_than(self, start: date, rng: random.Random, bd: date) -> date:
        """A date between ``start`` and a month before the business date."""
        days = (bd - timedelta(days=30) - start).days
        return start + timedelta(days=rng.randint(0, max(0, days)))

    def _loan(self, ctx: _Context, rng: random.Random, product: str, k: int,
              principal: Decimal, term: int, annual: float, months_ago: int) -> None:
        bd = ctx.bd
        opened = max(_add_months(bd, -months_ago) - timedelta(days=rng.randint(0, 27)),
                     self.open_date)
        rate = Decimal(annual).quantize(Decimal("0.01"), ROUND_HALF_UP)
        r = float(rate) / 1200
        installment = _money(float(principal) * r * (1 + r) ** term / ((1 + r) ** term - 1))
        pay_day = min(opened.day, 28)
        first_month = date(opened.year, opened.month, 1)

        def due(n: int) -> date:  # the n-th instalment date, n >= 1
            return _on(*_ym(_add_months(first_month, n)), pay_day)

        months = (bd.year - opened.year) * 12 + bd.month - opened.month
        paid = max(0, months - (_on(bd.year, bd.month, pay_day) > bd))
        acct = _Acct(self._account_id("21", k), product, "LOAN", CNY, Decimal(0), opened, rate,
                     _add_months(opened, term))
        acct.installment, acct.pay_day, acct.principal = installment, pay_day, principal
        if paid and rng.random() < 0.03:
            missed = min(paid, rng.randint(1, 3))
            acct.missed_from = due(paid - missed + 1)
            acct.overdue_days = (bd - acct.missed_from).days
            paid -= missed
        growth = (1 + r) ** paid
        outstanding = float(principal) * growth - float(installment) * (growth - 1) / r
        acct.target = _money(max(outstanding, 0))
        self.loans.append(acct)

    def _cards(self, ctx: _Context, rng: random.Random) -> None:
        bd = ctx.bd
        count = 1 if self.role == "card_late" or rng.random() < 0.8 else 2
        for k in range(1, count + 1):
            limit = _round_to(min(300_000, max(5_000, float(self.annual_income) *
                                               rng.uniform(0.15, 0.5))), 1000)
            product = "CC-PLAT" if limit >= 100_000 else "CC-GOLD" if limit >= 30_000 \
                else "CC-STD"
            body = f"625933{self.i + 1:08d}{k}"
            if self.role == "card_late":
                opened = bd - timedelta(days=12)
            else:
                opened = max(self.open_date, date(2010, 1, 1)) + timedelta(
                    days=rng.randint(0, 3000))
                opened = min(opened, bd - timedelta(days=30))
            card = _Acct(body + _luhn(body), product, "CREDIT_CARD", CNY, Decimal(0), opened,
                         Decimal("18.25"))
            card.limit = limit
            card.principal = _money(min(float(limit) * 0.4, float(self.monthly) *
                                        rng.uniform(0.1, 0.5)))  # typical monthly spend
            card.overdue = self.role is None and rng.random() < 0.03
            self.cards.append(card)

    def _holdings(self, ctx: _Context, rng: random.Random) -> None:
        bd = ctx.bd
        budget = self.holdings_budget or self.aum * 0.4
        appetite = rng.choices((2, 3, 4, 5), (35, 35, 20, 10))[0]
        has_usd = any(a.currency == "USD" for a in self.accounts)
        choices = [p for p in WMS_PRODUCTS if int(p.risk[1]) <= appetite and
                   float(p.min_amount) * float(ctx.rates.get(p.currency, 1)) <= budget * 0.6
                   and (p.currency == CNY or has_usd)]
        choices = choices or [_WMS_BY_CODE["FD-BOND01"]]
        picks = rng.sample(choices, min(len(choices), rng.randint(1, 4 if budget > 100_000
                                                                  else 2)))
        if self.role == "wms_new_product":
            picks = picks[:2]
        weights = [rng.uniform(0.5, 2) for _ in picks]
        total = sum(weights)
        for k, (product, weight) in enumerate(zip(picks, weights), start=1):
            amount = max(budget * weight / total, float(product.min_amount) * 1.2, 1000.0)
            if product.currency != CNY:
                amount /= float(ctx.rates[product.currency])
            self.holdings.append(self._holding(ctx, rng, k, product, amount))
        if self.role == "wms_new_product":
            launch = _Product(NEW_PRODUCT, "钱塘ESG主题理财(新发)", "WEALTH", "R3", CNY,
                              "10000.00", 365, "3.60")
            holding = self._holding(ctx, rng, len(self.holdings) + 1, launch,
                                    _round_to(rng.uniform(50_000, 200_000), 10_000))
            holding.buy_date = bd  # subscribed today: no cash movement in the window yet
            self.holdings.append(holding)
        # A wealth product that matured inside the window: purchase and redemption.
        if rng.random() < 0.5:
            product = _WMS_BY_CODE["WM-STB180"]
            redeemed = bd - timedelta(days=rng.randint(5, 150))
            bought = redeemed - timedelta(days=180)
            principal = _round_to(max(10_000, budget * rng.uniform(0.05, 0.2)), 1000)
            cur = self.accounts[0].id
            if bought >= ctx.ws:
                self.scheduled.append(_Event(bought, cur, -principal, "PURCHASE", "MOBILE",
                                             (WEALTH_CO, None, BANK_NAME), f"认购 {product.name}"))
            payout = _money(float(principal) * (1 + 0.0285 * 180 / 365 * rng.uniform(0.9, 1.05)))
            if redeemed >= ctx.ws:
                self.scheduled.append(_Event(redeemed, cur, payout, "REDEMPTION", "AUTO",
                                             (WEALTH_CO, None, BANK_NAME),
                                             f"到期赎回 {product.name}"))

    def _holding(self, ctx: _Context, rng: random.Random, k: int, product: _Product,
                 amount: float | Decimal) -> _Holding:
        bd = ctx.bd
        h = _Holding(f"H{self.wms_id[1:]}{k:02d}", product)
        cur = self.accounts[0].id
        amount = float(amount)
        counterparty = (WEALTH_CO if product.category == "WEALTH" else
                        "钱塘人寿保险股份有限公司" if product.category == "INSURANCE" else
                        "中华人民共和国财政部" if product.category == "BOND" else
                        "钱塘基金管理有限公司", None, None)
        if product.category == "INSURANCE":
            years = rng.randint(1, 8)
            premium = _round_to(amount / years, 1000)
            start = _add_months(bd, -12 * years + rng.randint(1, 11))
            h.premium, h.units = premium, Decimal("1")
            paid = 0
            for n in range(years + 1):
                due = _add_months(start, 12 * n)
                if due > bd:
                    break
                paid += 1
                if due >= ctx.ws:
                    self.scheduled.append(_Event(due, cur, -premium, "PURCHASE", "AUTO",
                                                 counterparty, f"保费扣款 {product.name}"))
            h.cost = premium * paid
            h.value = _money(float(h.cost) * rng.uniform(0.88, 1.08))
            h.buy_date = start
            return h
        if product.category == "BOND":
            face = _round_to(amount, 100)
            h.buy_date = bd - timedelta(days=rng.randint(30, 1000))
            h.cost, h.units = face, (face / 100).quantize(RATE_PLACES)
            held = (bd - h.buy_date).days / 365
            h.value = _money(float(face) * (1 + 0.0238 * held))
        else:
            nav0 = rng.uniform(0.95, 1.8) if product.category == "FUND" else 1.0
            drift = {"R2": (0.0, 0.05), "R3": (-0.06, 0.10), "R4": (-0.18, 0.22),
                     "R5": (-0.28, 0.32)}[product.risk]
            h.buy_date = bd - timedelta(days=rng.randint(10, 900))
            if product.term_days:
                h.buy_date = max(h.buy_date, bd - timedelta(days=product.term_days - 1))
            h.buy_amount = _round_to(amount, 100 if amount < 100_000 else 1000)
            cost = h.buy_amount
            if product.category == "FUND" and rng.random() < 0.25:  # monthly investment plan
                h.sip_amount = _round_to(rng.uniform(300, 3000), 100)
                h.sip_start = _on(*_ym(_add_months(bd, -rng.randint(2, 30))), 8)
                d = h.sip_start
                while d <= bd:
                    cost += h.sip_amount
                    if d >= ctx.ws and product.currency == CNY:
                        self.scheduled.append(_Event(d, cur, -h.sip_amount, "PURCHASE",
                                                     "AUTO", counterparty,
                                                     f"基金定投 {product.name}"))
                    d = _on(*_ym(_add_months(d, 1)), 8)
            h.cost = cost
            h.units = (cost / Decimal(nav0)).quantize(RATE_PLACES, ROUND_HALF_UP)
            h.value = _money(float(cost) * (1 + rng.uniform(*drift)))
        if h.buy_date and ctx.ws <= h.buy_date <= bd and product.currency == CNY \
                and product.code != NEW_PRODUCT:
            amount_out = h.buy_amount or h.cost
            self.scheduled.append(_Event(h.buy_date, cur, -amount_out, "PURCHASE", "MOBILE",
                                         counterparty, f"申购 {product.name}"))
        return h

    def _large_cash(self, ctx: _Context, rng: random.Random) -> None:
        """Cash of RMB 50,000 and more at the counter (reported under AML rules)."""
        cur = self.accounts[0].id
        last = self.dormant_since or ctx.bd
        start = max(ctx.ws, self.open_date)
        span = (last - start).days
        if span < 8:
            return
        for n in range(rng.randint(1, 3)):
            if self.role == "large_cash" and n == 0:
                day = last - timedelta(days=rng.randint(5, min(span, 40)))
            else:
                day = start + timedelta(days=rng.randint(0, span - 5))
            amount = _round_to(rng.uniform(LARGE_CASH, 300_000), 100)
            company = _employer(ctx.seed, rng.randrange(ctx.employers), self.sub.city)
            later = day + timedelta(days=rng.randint(1, 4))
            if rng.random() < 0.6:
                self.scheduled.append(_Event(day, cur, amount, "CASH_DEPOSIT", "COUNTER", None,
                                             "现金存款"))
                self.scheduled.append(_Event(later, cur, -amount, "TRANSFER_OUT", "ONLINE",
                                             company, "货款"))
            else:
                self.scheduled.append(_Event(day, cur, amount, "TRANSFER_IN", "ONLINE",
                                             company, "往来款"))
                self.scheduled.append(_Event(later, cur, -amount, "CASH_WITHDRAWAL", "COUNTER",
                                             None, "现金支取"))


def _ym(d: date) -> tuple[int, int]:
    return d.year, d.month


# -- transactions ------------------------------------------------------------------------


def _card_month(ctx: _Context, p: _Person, card: _Acct, year: int, month: int
                ) -> list[tuple[date, Decimal, str, str]]:
    """A card's spending in one calendar month (whole month; callers clip to dates)."""
    rng = random.Random(f"{ctx.seed}:{p.i}:{card.id}:{year}-{month:02d}")
    if p.role == "card_late":  # a new card: exactly two purchases so far
        spends = [(ctx.bd - timedelta(days=10), _money(rng.uniform(80, 600)), "家乐汇超市", "POS"),
                  (ctx.bd - timedelta(days=3), _money(rng.uniform(30, 300)), "云购商城", "ONLINE")]
        return [s for s in spends if _ym(s[0]) == (year, month)]
    days = calendar.monthrange(year, month)[1]
    typical = float(card.principal)
    count = max(0, int(rng.gauss(6 * p.activity, 2)))
    out = []
    for _ in range(count):
        name, channel, low, high, _w = rng.choices(MERCHANTS, _MERCHANT_WEIGHTS)[0]
        amount = min(_loguniform(rng, low, high), max(typical, 50.0))
        d = date(year, month, rng.randint(1, days))
        if d >= card.open_date:
            out.append((d, _money(amount), name, channel))
    out.sort(key=lambda s: s[0])
    return out


def _card_dues(ctx: _Context, card: _Acct) -> list[tuple[date, int, int]]:
    """(due date, statement year, statement month) of repayments from the month before the
    window up to the business date; the statement of month m is due on the 20th of m+1."""
    out: list[tuple[date, int, int]] = []
    first = _add_months(ctx.ws, -1)
    y, m = first.year, first.month
    while True:
        due = date(*_ym(_add_months(date(y, m, 1), 1)), 20)
        if due > ctx.bd:
            return out
        out.append((due, y, m))
        y, m = _ym(_add_months(date(y, m, 1), 1))


def _card_missed_from(ctx: _Context, p: _Person, card: _Acct) -> date | None:
    if not card.overdue:
        return None
    dues = [d for d, _, _ in _card_dues(ctx, card) if d >= ctx.ws]
    if not dues:
        return None
    rng = random.Random(f"{ctx.seed}:{p.i}:{card.id}:overdue")
    return dues[-min(len(dues), rng.randint(1, 4))]


def _card_events(ctx: _Context, p: _Person, card: _Acct) -> Iterator[_Event]:
    """Card spending and repayments on the card account, in date order."""
    missed_from = _card_missed_from(ctx, p, card)
    repay: dict[tuple[int, int], tuple[date, Decimal]] = {}
    for due, y, m in _card_dues(ctx, card):
        if missed_from is None or due < missed_from:
            spent = sum((s[1] for s in _card_month(ctx, p, card, y, m)), Decimal(0))
            repay[(due.year, due.month)] = (due, spent)
    cur = p.accounts[0].id
    for year, month in ctx.month_list:
        events = [_Event(d, card.id, -amount, "CARD_SPEND", channel, (name, None, None),
                         "网上支付" if channel == "ONLINE" else "POS消费")
                  for d, amount, name, channel in _card_month(ctx, p, card, year, month)
                  if ctx.ws <= d <= ctx.bd]
        statement = repay.get((year, month))
        if statement is not None and statement[1] > 0:
            events.append(_Event(statement[0], card.id, statement[1], "TRANSFER_IN", "AUTO",
                                 (p.name, cur, BANK_NAME), "自动还款"))
        if missed_from is not None and date(year, month, 1) > missed_from:
            events.append(_Event(_on(year, month, 1), card.id, Decimal("-50.00"), "FEE",
                                 "AUTO", None, "逾期违约金"))
        events.sort(key=lambda e: e.day)
        yield from events


def _card_balance(ctx: _Context, p: _Person, card: _Acct) -> Decimal:
    """What the holder owes: unpaid statements plus this month's spending."""
    owed = Decimal(0)
    first = _add_months(ctx.ws, -1)
    for y, m in [(first.year, first.month), *ctx.month_list]:
        owed += sum((s[1] for s in _card_month(ctx, p, card, y, m) if s[0] <= ctx.bd),
                    Decimal(0))
    for event in _card_events(ctx, p, card):
        if event.type != "CARD_SPEND":
            owed -= event.amount
    return max(owed, Decimal(0))


def _cbs_events(ctx: _Context, p: _Person) -> Iterator[_Event]:  # noqa: C901 - one recipe
    """The CBS transactions of customer ``p`` over the window, month by month."""
    cur = p.accounts[0]
    scheduled: dict[tuple[int, int], list[_Event]] = {}
    for e in p.scheduled:
        if max(ctx.ws, p.open_date) <= e.day <= ctx.bd:
            scheduled.setdefault(_ym(e.day), []).append(e)
    card_repay: list[tuple[_Acct, date | None, dict[tuple[int, int], tuple[date, Decimal]]]] = []
    for card in p.cards:
        if p.role == "card_late":
            continue
        missed = _card_missed_from(ctx, p, card)
        dues = {}
        for due, y, m in _card_dues(ctx, card):
            if missed is None or due < missed:
                dues[_ym(due)] = (due, sum((s[1] for s in _card_month(ctx, p, card, y, m)),
                                           Decimal(0)))
        card_repay.append((card, missed, dues))
    interest_accounts = [a for a in p.accounts if a.type == "CURRENT"]
    last_active = p.dormant_since or ctx.bd
    city = p.sub.city

    for year, month in ctx.month_list:
        rng = random.Random(f"{ctx.seed}:{p.i}:cbs:{year}-{month:02d}")
        first = max(date(year, month, 1), ctx.ws, p.open_date)
        last = min(_on(year, month, 31), ctx.bd)
        events: list[_Event] = list(scheduled.get((year, month), ()))
        if first > last:
            yield from sorted(events, key=lambda e: e.day)
            continue

        def when(day: int, _y: int = year, _m: int = month) -> date | None:
            d = _on(_y, _m, day)
            return d if first <= d <= min(last, last_active) else None

        def add(d: date | None, amount: Decimal, type: str, channel: str,
                counterparty: tuple[str | None, str | None, str | None] | None,
                narrative: str | None, account: str = cur.id) -> None:
            if d is not None and amount:
                events.append(_Event(d, account, amount, type, channel, counterparty,
                                     narrative))

        income = Decimal(0)
        spent = Decimal(0)
        # Income
        if p.income_kind == "salary" and p.employer:
            d = when(p.pay_day)
            if d is not None:
                d = max(_workday(d), first)
                pay = _money(float(p.monthly) * rng.uniform(0.97, 1.06))
                add(d, pay, "TRANSFER_IN", "AUTO", p.employer, "代发工资")
                income += pay
                if month == 1 and p.bonus:
                    add(d, p.bonus, "TRANSFER_IN", "AUTO", p.employer, "年终奖")
                    income += p.bonus
        elif p.income_kind == "pension":
            pay = _money(float(p.monthly) * rng.uniform(0.99, 1.01))
            d = when(15)
            add(d, pay, "TRANSFER_IN", "AUTO", (f"{city}市社会保险事业管理中心", None,
                                                BANK_NAME), "养老金")
            income += pay if d else 0
        elif p.income_kind == "business":
            for _ in range(rng.randint(2, 6)):
                d = when(rng.randint(1, 31))
                pay = _money(float(p.monthly) * rng.uniform(0.1, 0.45))
                payer = _employer(ctx.seed, rng.randrange(ctx.employers), city)
                add(d, pay, "TRANSFER_IN", rng.choice(("ONLINE", "MOBILE")), payer, "货款")
                income += pay if d else 0
        elif p.income_kind == "freelance":
            for _ in range(rng.randint(0, 3)):
                d = when(rng.randint(1, 31))
                pay = _money(float(p.monthly) * rng.uniform(0.2, 0.7))
                payer = _employer(ctx.seed, rng.randrange(ctx.employers), city)
                add(d, pay, "TRANSFER_IN", "MOBILE", payer, rng.choice(("劳务费", "服务费")))
                income += pay if d else 0
        elif p.income_kind in ("student", "family"):
            d = when(rng.randint(1, 5))
            pay = _round_to(float(p.monthly) * rng.uniform(0.9, 1.1), 100)
            add(d, pay, "TRANSFER_IN", "MOBILE", p.family, "生活费")
            income += pay if d else 0
        # Regular outgoings
        if p.utilities:
            season = 1.7 if month in (7, 8) else 1.3 if month in (1, 2, 12) else 1.0
            amount = _money(rng.uniform(60, 260) * season)
            d = when(p.util_day)
            add(d, -amount, "PAYMENT", "AUTO",
                (f"国网浙江省电力有限公司{city}供电公司", None, None), "电费代扣")
            spent += amount if d else 0
            amount = _money(p.phone_plan * rng.uniform(0.95, 1.2))
            d = when(p.util_day + 2)
            add(d, -amount, "PAYMENT", "MOBILE", ("中国移动通信集团浙江有限公司", None, None),
                "话费充值")
            spent += amount if d else 0
            if month % 2:
                amount = _money(rng.uniform(30, 140))
                d = when(p.util_day + 5)
                add(d, -amount, "PAYMENT", "AUTO", (f"{city}市水务集团有限公司", None, None),
                    "水费代扣")
                spent += amount if d else 0
            if month in (1, 2, 3, 11, 12) or rng.random() < 0.3:
                amount = _money(rng.uniform(25, 220))
                d = when(p.util_day + 7)
                add(d, -amount, "PAYMENT", "AUTO", (f"{city}市燃气集团有限公司", None, None),
                    "燃气费代扣")
                spent += amount if d else 0
        if p.rent:
            d = when(rng.randint(1, 5))
            add(d, -p.rent_amount, "TRANSFER_OUT", "MOBILE", p.landlord, "房租")
            spent += p.rent_amount if d else 0
        if rng.random() < 0.5 * p.activity:
            amount = _round_to(rng.uniform(200, 3000), 100)
            d = when(rng.randint(1, 31))
            add(d, -amount, "CASH_WITHDRAWAL", "ATM", None, "ATM取款")
            spent += amount if d else 0
        for _ in range(int(rng.uniform(0, 2.5) * p.activity)):
            amount = _money(_loguniform(rng, 100, 5000))
            d = when(rng.randint(1, 31))
            rng_cp = random.Random(f"{ctx.seed}:{p.i}:cp:{rng.randrange(8)}")
            add(d, -amount, "TRANSFER_OUT", "MOBILE", (_person_name(rng_cp),
                                                       *_other_account(rng_cp)), "转账")
            spent += amount if d else 0
        for _ in range(int(rng.uniform(0, 2.2) * p.activity)):
            amount = _money(_loguniform(rng, 15, 800))
            d = when(rng.randint(1, 31))
            add(d, -amount, "PAYMENT", "MOBILE", (rng.choice(ONLINE_PAYEES), None, None),
                "快捷支付")
            spent += amount if d else 0
        for card, _missed, dues in card_repay:
            statement = dues.get((year, month))
            if statement is not None and statement[1] > 0:
                d = when(statement[0].day)
                add(d, -statement[1], "TRANSFER_OUT", "AUTO", (p.name, card.id, CARD_CENTRE),
                    "信用卡自动还款")
                spent += statement[1] if d else 0
        for loan in p.loans:
            d = when(loan.pay_day)
            if d is not None and d > loan.open_date and (loan.missed_from is None or
                                                         d < loan.missed_from):
                add(d, -loan.installment, "LOAN_REPAYMENT", "AUTO", (p.name, loan.id,
                                                                     BANK_NAME),
                    "个人住房贷款还款" if loan.product == "LN-MORT" else "消费贷款还款")
                spent += loan.installment
        if p.sms:
            d = when(25)
            add(d, Decimal("-2.00"), "FEE", "AUTO", None, "短信通知服务费")
            spent += 2 if d else 0
        # Whatever the month's income leaves beyond the saving habit goes elsewhere.
        budget = income * Decimal(p.spend_ratio) - spent
        d = when(last.day)
        if budget > 100 and d is not None:
            add(d, -_money(budget), "TRANSFER_OUT", "MOBILE", (p.name, *p.own_other),
                "本人账户互转")
        # Quarterly interest (settled on the 20th, credited the 21st) — for everyone.
        if month in (3, 6, 9, 12):
            d = _on(year, month, 21)
            if first <= d <= last:
                for acct in interest_accounts:
                    amount = _money(float(acct.target) * float(acct.rate or 0) / 400)
                    add(d, amount, "INTEREST", "AUTO", None, "结息", account=acct.id)
        events.sort(key=lambda e: e.day)
        yield from events


def _cbs_balances(ctx: _Context, p: _Person) -> dict[str, Decimal]:
    """Balances at the business date, consistent with the transactions: the opening
    balance (target minus the window's net flow) never goes below a small cushion."""
    net: dict[str, Decimal] = {}
    for e in _cbs_events(ctx, p):
        net[e.account] = net.get(e.account, Decimal(0)) + e.amount
    out: dict[str, Decimal] = {}
    for a in p.accounts:
        flow = net.get(a.id, Decimal(0))
        if a.type == "TIME_DEPOSIT":
            out[a.id] = a.target
        else:
            cushion = _money(10 + (p.i % 97) * 3.7)
            out[a.id] = max(a.target, flow + cushion)
    for loan in p.loans:
        out[loan.id] = loan.target
    return out


# -- context -----------------------------------------------------------------------------


class _Context:
    def __init__(self, spec: DemoSpec) -> None:
        if spec.customers < 50:
            raise ValueError("the demo needs at least 50 customers")
        if spec.months < 1:
            raise ValueError("months must be at least 1")
        self.seed = spec.seed
        self.customers = spec.customers
        self.months = spec.months
        self.bd = spec.resolved_date()
        self.ws = date(*_ym(_add_months(date(self.bd.year, self.bd.month, 1), -spec.months)), 1)
        self.month_list: list[tuple[int, int]] = []
        d = self.ws
        while d <= self.bd:
            self.month_list.append(_ym(d))
            d = _add_months(d, 1)
        self.rates = _fx_rates(spec.seed, self.bd)
        self.employers = max(40, spec.customers // 25)
        self.role_index = _role_indices(spec.customers)
        self.role_of = {i: role for role, i in self.role_index.items()}
        staff = staff_directory(spec)
        self.staff_by_sub: dict[str, tuple[list[str], list[str]]] = {
            s.code: ([x["staff_id"] for x in staff if x["branch"] == s.code and
                      x["role"] == "rm"],
                     [x["staff_id"] for x in staff if x["branch"] == s.code and
                      x["role"] == "advisor"])
            for s in SUB_BRANCHES
        }
        self.new_customers = max(3, spec.customers // 400)

    def generated(self, hour: int, minute: int) -> datetime:
        return datetime.combine(self.bd + timedelta(days=1), time(hour, minute),
                                tzinfo=TZ_BEIJING)

    def people(self) -> Iterator[_Person]:
        for i in range(self.customers):
            yield _Person(self, i)


# -- writing -----------------------------------------------------------------------------


def _reference(feed: FeedWriter, ctx: _Context, products: tuple[_Product, ...],
               rates: bool = False) -> None:
    if rates:
        for currency, to_cny in ctx.rates.items():
            feed.rate(currency, to_cny)
    for b in (HEAD_OFFICE, *BRANCHES):
        feed.branch(b.code, b.name, b.city, parent=b.parent)
    for s in SUB_BRANCHES:
        feed.branch(s.code, s.name, s.city, parent=s.parent)
    for p in products:
        feed.product(p.code, p.name, p.category, p.risk, p.currency, Decimal(p.min_amount),
                     term_days=p.term_days,
                     expected_return=Decimal(p.expected_return) if p.expected_return else None)


def _cbs_customer(feed: FeedWriter, p: _Person, *, mobile: str | None = None,
                  address: str | None = None) -> None:
    feed.customer(
        p.cbs_id, p.name, gender=p.gender, birth_date=p.birth,
        id_doc=(p.doc_type, p.doc_number, p.doc_expiry), mobile=mobile or p.mobile,
        email=p.cbs_email, address=address or p.address, occupation=p.cbs_occupation,
        annual_income=p.annual_income, branch=p.sub.code, manager=p.manager,
        open_date=p.open_date, status=p.status, kyc_review_due=p.kyc_due,
    )


def _cbs_account(feed: FeedWriter, p: _Person, a: _Acct, balance: Decimal) -> None:
    feed.account(a.id, p.cbs_id, product=a.product, type=a.type, currency=a.currency,
                 balance=balance, open_date=a.open_date, maturity_date=a.maturity,
                 interest_rate=a.rate, overdue_days=a.overdue_days, status=a.status,
                 branch=p.sub.code)


class _Counter:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def _write_cbs(path: Path, ctx: _Context, stats: _Counter) -> None:
    with FeedWriter(path, "CBS", ctx.bd, 1, generated=ctx.generated(1, 5)) as feed:
        _reference(feed, ctx, CBS_PRODUCTS, rates=True)
        for p in ctx.people():
            _cbs_customer(feed, p)
            stats.add("CBS customers")
        for p in ctx.people():
            balances = _cbs_balances(ctx, p)
            for a in (*p.accounts, *p.loans):
                _cbs_account(feed, p, a, balances[a.id])
                stats.add("CBS accounts")
        for p in ctx.people():
            for n, e in enumerate(_cbs_events(ctx, p)):
                feed.transaction(f"{e.day:%Y%m%d}{p.i + 1:09d}{n:05d}", e.account,
                                 booking_date=e.day, amount=e.amount,
                                 currency=CNY if not e.account[6:8] == "03" else "USD",
                                 type=e.type, channel=e.channel, counterparty=e.counterparty,
                                 narrative=e.narrative)
                stats.add("CBS transactions")


def _card_customer(feed: FeedWriter, p: _Person) -> None:
    feed.customer(p.card_id, p.name, gender=p.gender, birth_date=p.birth,
                  id_doc=(p.doc_type, p.doc_number, p.doc_expiry), mobile=p.card_mobile,
                  email=p.email, address=p.card_address, occupation=p.occupation,
                  annual_income=p.annual_income, status="ACTIVE")


def _write_card(path: Path, ctx: _Context, stats: _Counter) -> None:
    def card_holders() -> Iterator[_Person]:
        for p in ctx.people():
            if p.cards:
                yield p

    with FeedWriter(path, "CARD", ctx.bd, 1, generated=ctx.generated(1, 20)) as feed:
        _reference(feed, ctx, CARD_PRODUCTS)
        for p in card_holders():
            if p.role != "card_late":  # its customer record comes in CARD#2
                _card_customer(feed, p)
                stats.add("CARD customers")
        for p in card_holders():
            for card in p.cards:
                missed = _card_missed_from(ctx, p, card)
                feed.account(card.id, p.card_id, product=card.product, type="CREDIT_CARD",
                             currency=CNY, balance=_card_balance(ctx, p, card),
                             open_date=card.open_date, interest_rate=card.rate,
                             credit_limit=card.limit,
                             overdue_days=(ctx.bd - missed).days if missed else None,
                             status="ACTIVE", branch=p.sub.code)
                stats.add("CARD accounts")
        for p in card_holders():
            n = 0
            for card in p.cards:
                for e in _card_events(ctx, p, card):
                    n += 1
                    feed.transaction(f"K{e.day:%Y%m%d}{card.id[6:15]}{n:05d}", card.id,
                                     booking_date=e.day, amount=e.amount, currency=CNY,
                                     type=e.type, channel=e.channel,
                                     counterparty=e.counterparty, narrative=e.narrative)
                    stats.add("CARD transactions")


def _write_wms(path: Path, ctx: _Context, stats: _Counter) -> None:
    with FeedWriter(path, "WMS", ctx.bd, 1, generated=ctx.generated(1, 40)) as feed:
        _reference(feed, ctx, WMS_PRODUCTS, rates=True)
        for p in ctx.people():
            if p.holdings:
                feed.customer(p.wms_id, p.name, gender=p.gender, birth_date=p.birth,
                              id_doc=(p.doc_type, p.doc_number, p.doc_expiry),
                              mobile=p.mobile, email=p.email if p.i % 5 < 3 else None,
                              occupation=p.occupation, annual_income=p.annual_income,
                              branch=p.sub.code, status="ACTIVE")
                stats.add("WMS customers")
        for p in ctx.people():
            for h in p.holdings:
                feed.holding(h.id, p.wms_id, product=h.product.code, units=h.units,
                             market_value=h.value, currency=h.currency, cost=h.cost,
                             valuation_date=ctx.bd - timedelta(days=1)
                             if h.product.category == "FUND" else ctx.bd)
                stats.add("WMS holdings")


def _daily_changes(ctx: _Context) -> list[_Person]:
    """Existing customers with activity in the daily file: a sample of active ones."""
    rng = random.Random(f"{ctx.seed}:daily:{ctx.bd.isoformat()}")
    wanted = max(5, ctx.customers // 100)
    picked = sorted(rng.sample(range(ctx.customers), min(ctx.customers, wanted * 2)))
    people = [_Person(ctx, i) for i in picked]
    chosen = [p for p in people if p.role is None and p.dormant_since is None][:wanted]
    chosen.append(_Person(ctx, ctx.role_index["td_matures_today"]))
    return sorted(chosen, key=lambda p: p.i)


def _write_cbs_daily(path: Path, ctx: _Context, stats: _Counter) -> None:
    """CBS sequence 2: new customers, changed customers and balances, one account closed."""
    bd = ctx.bd
    changed = _daily_changes(ctx)
    newcomers = [_Person(ctx, ctx.customers + k) for k in range(ctx.new_customers)]
    with FeedWriter(path, "CBS", bd, 2, generated=ctx.generated(5, 30)) as feed:
        _reference(feed, ctx, CBS_PRODUCTS, rates=True)
        for p in newcomers:
            _cbs_customer(feed, p)
            stats.add("CBS#2 customers")
        for k, p in enumerate(changed[:2]):  # moved house / changed number at the counter
            rng = random.Random(f"{ctx.seed}:daily:{p.i}:update")
            if k == 0:
                _cbs_customer(feed, p, mobile=rng.choice(MOBILE_PREFIXES) + _digits(rng, 8))
            else:
                _cbs_customer(feed, p, address=p._address(rng))
            stats.add("CBS#2 customers")
        new_txns: list[tuple[_Person, list[_Event]]] = []
        for p in newcomers:
            rng = random.Random(f"{ctx.seed}:daily:{p.i}")
            cur = p.accounts[0]
            amount = _round_to(rng.uniform(500, 45_000), 100)
            _cbs_account(feed, p, cur, amount)
            stats.add("CBS#2 accounts")
            new_txns.append((p, [_Event(bd, cur.id, amount, "CASH_DEPOSIT", "COUNTER", None,
                                        "开户存入")]))
        for p in changed:
            rng = random.Random(f"{ctx.seed}:daily:{p.i}")
            balances = _cbs_balances(ctx, p)
            cur = p.accounts[0]
            events: list[_Event] = []
            if p.role == "td_matures_today":
                td = next(a for a in p.accounts if a.type == "TIME_DEPOSIT" and a.maturity == bd)
                days = (td.maturity - td.open_date).days if td.maturity else 0
                interest = _money(float(td.target) * float(td.rate or 0) / 100 * days / 365)
                events.append(_Event(bd, cur.id, td.target + interest, "TRANSFER_IN", "AUTO",
                                     (p.name, td.id, BANK_NAME), "定期到期本息转活期"))
                feed.account(td.id, p.cbs_id, product=td.product, type=td.type,
                             currency=td.currency, balance=Decimal("0.00"), op="close")
                stats.add("CBS#2 accounts closed")
            else:
                amount = _money(_loguniform(rng, 50, 3000))
                events.append(_Event(bd, cur.id, -amount, "TRANSFER_OUT", "MOBILE",
                                     (_person_name(rng), *_other_account(rng)), "转账"))
                if rng.random() < 0.5:
                    amount = _money(rng.uniform(15, 400))
                    events.append(_Event(bd, cur.id, -amount, "PAYMENT", "MOBILE",
                                         (rng.choice(ONLINE_PAYEES), None, None), "快捷支付"))
            balance = balances[cur.id] + sum((e.amount for e in events), Decimal(0))
            if balance < 0:  # the day's spending cannot overdraw the account
                events = [e for e in events if e.amount > 0]
                balance = balances[cur.id] + sum((e.amount for e in events), Decimal(0))
            _cbs_account(feed, p, cur, balance)
            stats.add("CBS#2 accounts")
            new_txns.append((p, events))
        for p, events in new_txns:
            for n, e in enumerate(events):
                feed.transaction(f"{bd:%Y%m%d}{p.i + 1:09d}D{n:04d}", e.account,
                                 booking_date=e.day, amount=e.amount, currency=CNY,
                                 type=e.type, channel=e.channel, counterparty=e.counterparty,
                                 narrative=e.narrative)
                stats.add("CBS#2 transactions")


def _write_card_daily(path: Path, ctx: _Context, stats: _Counter) -> None:
    """CARD sequence 2: the customer record CARD#1 lacked (its account is waiting)."""
    p = _Person(ctx, ctx.role_index["card_late"])
    with FeedWriter(path, "CARD", ctx.bd, 2, generated=ctx.generated(5, 45)) as feed:
        _reference(feed, ctx, CARD_PRODUCTS)
        _card_customer(feed, p)
        stats.add("CARD#2 customers")


def write_demo(spec: DemoSpec, out_dir: Path, stats: dict[str, int] | None = None
               ) -> list[Path]:
    """Write the demo bank's feed files into ``out_dir``; returns them in import order
    (CBS#1, CARD#1, WMS#1, CBS#2, CARD#2). ``stats``, when given, receives record counts."""
    ctx = _Context(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{ctx.bd:%Y%m%d}"
    files = [
        (out_dir / f"CBS_{stamp}_0001.xml", _write_cbs),
        (out_dir / f"CARD_{stamp}_0001.xml", _write_card),
        (out_dir / f"WMS_{stamp}_0001.xml", _write_wms),
        (out_dir / f"CBS_{stamp}_0002.xml", _write_cbs_daily),
        (out_dir / f"CARD_{stamp}_0002.xml", _write_card_daily),
    ]
    counter = _Counter()
    for path, write in files:
        write(path, ctx, counter)
    if stats is not None:
        stats.update(counter.counts)
    return [path for path, _ in files]

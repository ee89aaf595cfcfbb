"""Configuration profiles; secrets and locations come only from the environment."""
from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

DEFAULT_SECRET_KEY = "development-only-key-never-use-in-production"
DEFAULT_FEED_MAX_BYTES = 4 * 1024**3  # a nightly file of 3M transactions is ~1.2 GB


class ConfigError(Exception):
    """The settings cannot run this profile; the message says what to set."""


class BaseConfig:
    ENV_NAME = "base"
    DEBUG = False
    TESTING = False
    SECRET_KEY = DEFAULT_SECRET_KEY
    INSTANCE_PATH: str = ""
    DATABASE_URL: str = ""
    INBOX: str = ""
    FEED_MAX_BYTES = DEFAULT_FEED_MAX_BYTES
    # How many records the pipeline hands to the database at once.
    INGEST_CHUNK = 5000
    SCHEDULER_INBOX_SECONDS = 60
    LOG_LEVEL = "INFO"
    # Sessions and tokens.
    IDLE_TIMEOUT_SECONDS = 15 * 60
    TOKEN_LIFETIME_SECONDS = 15 * 60
    PASSWORD_METHOD = "scrypt"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PERMANENT_SESSION_LIFETIME = 12 * 3600  # the idle timeout signs out far earlier
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    API_PAGE_SIZE = 20
    # Tier contribution: estimated annual interest margin earned on deposit and loan
    # balances (accrued per day as balance x margin / 365; portal.vip.aum).
    DEPOSIT_MARGIN = Decimal("0.015")
    LOAN_MARGIN = Decimal("0.02")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        instance = Path(env.get("CRM_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = env.get("CRM_SECRET_KEY", self.SECRET_KEY)
        self.DATABASE_URL = env.get("CRM_DATABASE_URL", "") or self.default_database_url(instance)
        self.INBOX = env.get("CRM_INBOX", str(instance / "inbox"))
        self.LOG_LEVEL = env.get("CRM_LOG_LEVEL", self.LOG_LEVEL)
        self.FEED_MAX_BYTES = _positive_int(env, "CRM_FEED_MAX_BYTES", self.FEED_MAX_BYTES)
        self.INGEST_CHUNK = _positive_int(env, "CRM_INGEST_CHUNK", self.INGEST_CHUNK)
        self.SCHEDULER_INBOX_SECONDS = _positive_int(
            env, "CRM_SCHEDULER_INBOX_SECONDS", self.SCHEDULER_INBOX_SECONDS
        )
        self.IDLE_TIMEOUT_SECONDS = _positive_int(
            env, "CRM_IDLE_TIMEOUT_SECONDS", self.IDLE_TIMEOUT_SECONDS)
        self.TOKEN_LIFETIME_SECONDS = _positive_int(
            env, "CRM_TOKEN_LIFETIME_SECONDS", self.TOKEN_LIFETIME_SECONDS)
        self.DEPOSIT_MARGIN = _rate(env, "CRM_DEPOSIT_MARGIN", self.DEPOSIT_MARGIN)
        self.LOAN_MARGIN = _rate(env, "CRM_LOAN_MARGIN", self.LOAN_MARGIN)
        if env.get("CRM_INSECURE_COOKIES") == "1":  # plain-HTTP development only
            self.SESSION_COOKIE_SECURE = self.REMEMBER_COOKIE_SECURE = False

    def default_database_url(self, instance: Path) -> str:
        return f"sqlite:///{instance / 'crm.sqlite3'}"

    def check(self) -> None:
        """Raise ConfigError when this profile cannot start with these settings."""
        if not self.DATABASE_URL.split(":", 1)[0].split("+", 1)[0] in (
            "sqlite", "postgresql", "oracle"
        ):
            raise ConfigError(
                f"CRM_DATABASE_URL {self.DATABASE_URL!r} is not a sqlite://, "
                "postgresql+psycopg:// or oracle+oracledb:// URL"
            )

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in dir(self) if k.isupper()}


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"
    DEBUG = False  # the debugger would be a remote shell; FLASK_DEBUG=1 turns it on
    SESSION_COOKIE_SECURE = False  # `make run` serves plain HTTP on loopback
    REMEMBER_COOKIE_SECURE = False


class TestConfig(BaseConfig):
    ENV_NAME = "test"
    TESTING = True
    INGEST_CHUNK = 50  # small chunks so tests cross chunk boundaries
    PASSWORD_METHOD = "pbkdf2:sha256:1000"  # cheap hashing keeps the suite fast
    SESSION_COOKIE_SECURE = False  # the test client speaks plain HTTP
    REMEMBER_COOKIE_SECURE = False

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        # Tests never touch the developer's database unless told so explicitly.
        env["CRM_DATABASE_URL"] = env.get("CRM_TEST_DATABASE_URL") or "sqlite://"
        super().__init__(env)


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._explicit_db = bool(env.get("CRM_DATABASE_URL"))
        super().__init__(env)

    def check(self) -> None:
        if self.SECRET_KEY == DEFAULT_SECRET_KEY or len(self.SECRET_KEY) < 32:
            raise ConfigError(
                "production needs CRM_SECRET_KEY set to a random value of 32+ characters "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        if not self._explicit_db:
            raise ConfigError("production needs CRM_DATABASE_URL (PostgreSQL or Oracle)")
        if not (self.SESSION_COOKIE_SECURE and self.REMEMBER_COOKIE_SECURE):
            raise ConfigError("CRM_INSECURE_COOKIES is for plain-HTTP development; production "
                              "serves HTTPS and its cookies carry the Secure flag")
        super().check()


PROFILES: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None = None, environ: Mapping[str, str] | None = None) -> BaseConfig:
    """Build and check the profile named by ``name`` or ``CRM_ENV`` (default development)."""
    env = os.environ if environ is None else environ
    name = name or env.get("CRM_ENV", "development")
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"CRM_ENV {name!r} is not one of {', '.join(PROFILES)}"
        ) from None
    config = profile(env)
    config.check()
    return config


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _rate(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    """An annual rate as a fraction (0.015 is 1.5%), at most 4 decimal places."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a fraction such as 0.015, got {raw!r}") from None
    if not value.is_finite() or not 0 <= value < 1 \
            or value != value.quantize(Decimal("0.0001")):
        raise ConfigError(f"{name} must be from 0 to 1 with at most 4 decimals, got {raw!r}")
    return value

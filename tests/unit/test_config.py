"""Configuration profiles: what each profile reads from the environment and what it refuses.

Every test passes its own environ mapping; os.environ is only touched through monkeypatch,
to prove that an explicit mapping is what counts.
"""
from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from config import BaseConfig, ConfigError, DevelopmentConfig, ProductionConfig, load_config
from config import TestConfig as ConfigForTests  # aliased: pytest collects Test* names
from config.settings import DEFAULT_FEED_MAX_BYTES, DEFAULT_SECRET_KEY

GOOD_SECRET = "k" * 32
PG_URL = "postgresql+psycopg://crm:pw@db.example:5432/crm"
ORACLE_URL = "oracle+oracledb://crm:pw@db.example:1521/?service_name=CRM"


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "inst"


def prod_env(instance: Path, **extra: str) -> dict[str, str]:
    env = {"CRM_INSTANCE_PATH": str(instance), "CRM_SECRET_KEY": GOOD_SECRET,
           "CRM_DATABASE_URL": PG_URL}
    env.update(extra)
    return env


# --- development -------------------------------------------------------------------------

def test_development_is_the_default_profile(instance):
    config = load_config(environ={"CRM_INSTANCE_PATH": str(instance)})

    assert isinstance(config, DevelopmentConfig)
    assert (config.ENV_NAME, config.DEBUG, config.TESTING) == ("development", False, False)
    # Development serves plain HTTP on loopback, so its cookies cannot require HTTPS.
    assert config.SESSION_COOKIE_SECURE is False


def test_development_default_database_is_sqlite_under_the_instance_path(instance):
    config = load_config("development", {"CRM_INSTANCE_PATH": str(instance)})

    assert config.INSTANCE_PATH == str(instance.resolve())
    assert config.DATABASE_URL == f"sqlite:///{instance.resolve() / 'crm.sqlite3'}"
    assert config.INBOX == str(instance.resolve() / "inbox")
    assert config.SECRET_KEY == DEFAULT_SECRET_KEY  # fine outside production
    assert config.FEED_MAX_BYTES == DEFAULT_FEED_MAX_BYTES


def test_relative_instance_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    config = load_config("development", {"CRM_INSTANCE_PATH": "var/crm"})

    assert config.INSTANCE_PATH == str(tmp_path.resolve() / "var" / "crm")
    assert config.DATABASE_URL == f"sqlite:///{tmp_path.resolve() / 'var/crm/crm.sqlite3'}"


@pytest.mark.parametrize("url", [PG_URL, ORACLE_URL, "sqlite:////srv/crm/crm.db", "sqlite://"])
def test_crm_database_url_is_honoured(instance, url):
    config = load_config("development", {"CRM_INSTANCE_PATH": str(instance),
                                         "CRM_DATABASE_URL": url})

    assert config.DATABASE_URL == url


@pytest.mark.parametrize("url", ["mysql://crm@db/crm", "mssql+pyodbc://db/crm",
                                 "not a url", "postgres://crm@db/crm"])
def test_database_url_of_an_unsupported_backend_is_refused(instance, url):
    with pytest.raises(ConfigError) as err:
        load_config("development", {"CRM_INSTANCE_PATH": str(instance),
                                    "CRM_DATABASE_URL": url})

    assert "CRM_DATABASE_URL" in str(err.value)
    assert url in str(err.value)


def test_settings_are_read_from_the_given_mapping_only(instance, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", "postgresql+psycopg://leak@os-environ/db")
    monkeypatch.setenv("CRM_FEED_MAX_BYTES", "abc")
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.setenv("CRM_SECRET_KEY", "from-os-environ" * 4)

    config = load_config(environ={"CRM_INSTANCE_PATH": str(instance)})

    assert config.ENV_NAME == "development"
    assert config.DATABASE_URL.startswith("sqlite:///")
    assert config.FEED_MAX_BYTES == DEFAULT_FEED_MAX_BYTES
    assert config.SECRET_KEY == DEFAULT_SECRET_KEY


def test_instance_path_default_ignores_os_environ_when_a_mapping_is_given(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path / "from-os-environ"))

    config = load_config("development", {})

    assert config.INSTANCE_PATH == str(tmp_path.resolve() / "instance")


def test_the_given_mapping_is_not_modified(instance):
    for name in ("development", "test", "production"):
        env = prod_env(instance, CRM_TEST_DATABASE_URL="sqlite://")
        frozen = MappingProxyType(dict(env))

        load_config(name, frozen)

        assert dict(frozen) == env


def test_as_dict_lists_the_settings(instance):
    settings = load_config("development", {"CRM_INSTANCE_PATH": str(instance)}).as_dict()

    assert {"DATABASE_URL", "SECRET_KEY", "FEED_MAX_BYTES", "INBOX", "INSTANCE_PATH",
            "INGEST_CHUNK", "DEBUG", "TESTING", "ENV_NAME"} <= set(settings)
    assert all(key.isupper() for key in settings)


# --- production --------------------------------------------------------------------------

def test_production_with_everything_set_loads(instance):
    config = load_config("production", prod_env(instance))

    assert isinstance(config, ProductionConfig)
    assert (config.DEBUG, config.TESTING) == (False, False)
    assert (config.SECRET_KEY, config.DATABASE_URL) == (GOOD_SECRET, PG_URL)


def test_production_accepts_oracle(instance):
    assert load_config("production", prod_env(instance, CRM_DATABASE_URL=ORACLE_URL)
                       ).DATABASE_URL == ORACLE_URL


def test_production_is_chosen_by_crm_env(instance):
    assert isinstance(load_config(environ=prod_env(instance, CRM_ENV="production")),
                      ProductionConfig)


@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET_KEY, "", "short", "k" * 31,
                                    DEFAULT_SECRET_KEY.ljust(20, "x")])
def test_production_refuses_a_default_or_short_secret_key(instance, secret):
    env = prod_env(instance)
    if secret is None:
        del env["CRM_SECRET_KEY"]
    else:
        env["CRM_SECRET_KEY"] = secret

    with pytest.raises(ConfigError) as err:
        load_config("production", env)

    message = str(err.value)
    assert "CRM_SECRET_KEY" in message and "32" in message
    if secret:
        assert secret not in message  # a secret is never echoed


def test_production_accepts_a_32_character_secret(instance):
    assert load_config("production", prod_env(instance, CRM_SECRET_KEY="s" * 32)).SECRET_KEY \
        == "s" * 32


@pytest.mark.parametrize("url", [None, ""])
def test_production_refuses_a_missing_database_url(instance, url):
    env = prod_env(instance)
    if url is None:
        del env["CRM_DATABASE_URL"]
    else:
        env["CRM_DATABASE_URL"] = url

    with pytest.raises(ConfigError) as err:
        load_config("production", env)

    assert "CRM_DATABASE_URL" in str(err.value)
    assert "production" in str(err.value)


def test_production_refuses_an_unsupported_database_url(instance):
    with pytest.raises(ConfigError, match="CRM_DATABASE_URL"):
        load_config("production", prod_env(instance, CRM_DATABASE_URL="mysql://db/crm"))


def test_production_refuses_an_explicit_default_secret_even_with_a_database(instance):
    env = prod_env(instance, CRM_SECRET_KEY=DEFAULT_SECRET_KEY)

    with pytest.raises(ConfigError, match="CRM_SECRET_KEY"):
        load_config("production", env)


# --- numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("variable", ["CRM_FEED_MAX_BYTES", "CRM_INGEST_CHUNK",
                                      "CRM_SCHEDULER_INBOX_SECONDS"])
@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1.5", "1e6", "10 MB"])
def test_bad_numbers_are_refused_with_the_variable_named(instance, variable, raw):
    with pytest.raises(ConfigError) as err:
        load_config("development", {"CRM_INSTANCE_PATH": str(instance), variable: raw})

    assert variable in str(err.value)
    assert raw.lstrip("-") in str(err.value)


def test_bad_feed_max_bytes_is_refused_in_every_profile(instance):
    for name in ("development", "test", "production"):
        with pytest.raises(ConfigError, match="CRM_FEED_MAX_BYTES"):
            load_config(name, prod_env(instance, CRM_FEED_MAX_BYTES="abc"))


@pytest.mark.parametrize("raw,value", [("1048576", 1048576), ("1", 1), ("", None)])
def test_good_feed_max_bytes_is_used(instance, raw, value):
    config = load_config("development", {"CRM_INSTANCE_PATH": str(instance),
                                         "CRM_FEED_MAX_BYTES": raw})

    assert config.FEED_MAX_BYTES == (DEFAULT_FEED_MAX_BYTES if value is None else value)
    assert isinstance(config.FEED_MAX_BYTES, int)


def test_ingest_chunk_and_scheduler_interval_are_read(instance):
    config = load_config("development", {"CRM_INSTANCE_PATH": str(instance),
                                         "CRM_INGEST_CHUNK": "250",
                                         "CRM_SCHEDULER_INBOX_SECONDS": "15"})

    assert (config.INGEST_CHUNK, config.SCHEDULER_INBOX_SECONDS) == (250, 15)


# --- profile names -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["staging", "prod", "Production", "DEVELOPMENT", "dev"])
def test_unknown_crm_env_is_refused(instance, name):
    with pytest.raises(ConfigError) as err:
        load_config(environ={"CRM_INSTANCE_PATH": str(instance), "CRM_ENV": name})

    message = str(err.value)
    assert "CRM_ENV" in message and repr(name) in message
    assert all(p in message for p in ("development", "test", "production"))


def test_unknown_profile_name_argument_is_refused(instance):
    with pytest.raises(ConfigError, match="staging"):
        load_config("staging", {"CRM_INSTANCE_PATH": str(instance)})


def test_profile_argument_wins_over_crm_env(instance):
    config = load_config("test", prod_env(instance, CRM_ENV="production"))

    assert isinstance(config, ConfigForTests)


# --- test --------------------------------------------------------------------------------

def test_test_profile_ignores_crm_database_url(instance):
    config = load_config("test", {"CRM_INSTANCE_PATH": str(instance),
                                  "CRM_DATABASE_URL": PG_URL})

    assert isinstance(config, ConfigForTests)
    assert config.DATABASE_URL == "sqlite://"  # in memory, never the real database
    assert (config.TESTING, config.INGEST_CHUNK) == (True, 50)


def test_test_profile_uses_crm_test_database_url(instance):
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

    config = load_config("test", {"CRM_INSTANCE_PATH": str(instance),
                                  "CRM_DATABASE_URL": PG_URL, "CRM_TEST_DATABASE_URL": url})

    assert config.DATABASE_URL == url


def test_test_config_built_directly_ignores_crm_database_url(instance, monkeypatch):
    monkeypatch.setenv("CRM_DATABASE_URL", PG_URL)
    monkeypatch.delenv("CRM_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(instance))

    assert ConfigForTests().DATABASE_URL == "sqlite://"
    assert ConfigForTests({"CRM_DATABASE_URL": PG_URL}).DATABASE_URL == "sqlite://"


def test_test_profile_with_an_empty_test_database_url_stays_in_memory(instance):
    config = load_config("test", {"CRM_INSTANCE_PATH": str(instance),
                                  "CRM_TEST_DATABASE_URL": ""})

    assert config.DATABASE_URL == "sqlite://"


def test_base_config_is_not_a_profile(instance):
    assert BaseConfig.ENV_NAME not in ("development", "test", "production")
    with pytest.raises(ConfigError):
        load_config("base", {"CRM_INSTANCE_PATH": str(instance)})

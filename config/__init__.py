"""Settings for every entry point (web, CLI, scheduler), read from the environment."""
from config.settings import (  # noqa: F401
    BaseConfig,
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    TestConfig,
    load_config,
)

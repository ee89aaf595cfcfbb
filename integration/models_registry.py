"""Imports every module that defines tables, so Alembic and tests see the whole schema."""
from integration import models  # noqa: F401
from integration.db import Base

metadata = Base.metadata

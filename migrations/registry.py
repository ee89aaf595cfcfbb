"""Every module that defines tables, imported so Alembic and the tests see the whole schema.
A new module with models adds its import here."""
from integration import models as integration_models  # noqa: F401
from integration.db import Base
from portal import models as portal_models  # noqa: F401

from portal.workbench import models as workbench_models  # noqa: F401
from portal.vip import models as vip_models  # noqa: F401
from risk import models as risk_models  # noqa: F401

metadata = Base.metadata

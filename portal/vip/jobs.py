"""The VIP service's part of the nightly run (integration.jobs): importing this module
registers its jobs, in the order they must run (after the workbench's customer metrics)."""
from __future__ import annotations

from integration.jobs import NightlyJob, register_nightly  # noqa: F401

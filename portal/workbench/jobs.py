"""The workbench's part of the nightly run (integration.jobs): importing this module
registers the jobs, in the order they must run."""
from __future__ import annotations

from integration.jobs import NightlyJob, register_nightly
from portal.workbench.metrics import refresh_metrics

register_nightly(NightlyJob("customer_metrics", refresh_metrics, order=10))

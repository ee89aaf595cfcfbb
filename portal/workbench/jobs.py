"""The workbench's part of the nightly run (integration.jobs): importing this module
registers the jobs, in the order they must run."""
from __future__ import annotations

from integration.jobs import NightlyJob, register_nightly
from portal.workbench.confirmation import confirm_wins
from portal.workbench.metrics import refresh_metrics
from portal.workbench.task_rules import generate_tasks

register_nightly(NightlyJob("customer_metrics", refresh_metrics, order=10))
register_nightly(NightlyJob("tasks", generate_tasks, order=20))
register_nightly(NightlyJob("opportunities", confirm_wins, order=30))

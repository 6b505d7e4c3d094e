"""Cadences of job schedules. The model and ``next_run`` live in :mod:`crmhub.core.cadence` (pure
code, so job specs below the scheduler can use them); this module is their name in the schedule package."""

from crmhub.core.cadence import *  # noqa: F403
from crmhub.core.cadence import __all__  # noqa: F401

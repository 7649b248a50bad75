"""Job specs: the ``parity.toml`` contract users write, and the ``[tool.parity]`` project settings.

:mod:`parity.spec.model` holds the frozen dataclasses, :mod:`parity.spec.load` reads and validates the TOML (and
finds jobs), :mod:`parity.spec.rules` gives the normalised rules a report records.  The public names of all three
are importable from ``parity.spec``.
"""

from parity.model import TEMPORAL_KINDS
from parity.spec.load import (
    DATASET_KEYS,
    UNWAIVABLE_CHECKS,
    WAIVER_KEYS,
    discover_jobs,
    job_folder,
    load_job,
    load_project_config,
    parse_dataset,
    parse_tolerance,
    resolve_job,
    temporal_tolerance,
)
from parity.spec.model import (
    ARGUMENTS,
    MACHINE_EPSILON,
    METHODS,
    SEVERITIES,
    SPEC_FILE,
    TEMPORAL_DEFAULTS,
    TOLERANCE_DEFAULT_KEYS,
    DatasetSpec,
    DateRules,
    JobSpec,
    Method,
    NumberRules,
    ProjectConfig,
    Severity,
    SortKey,
    StringRules,
    Tolerance,
    Waiver,
)
from parity.spec.rules import dataset_rules, job_rules

__all__ = [
    "ARGUMENTS",
    "DATASET_KEYS", "MACHINE_EPSILON", "METHODS", "SEVERITIES",
    "SPEC_FILE", "TEMPORAL_DEFAULTS", "TEMPORAL_KINDS",
    "TOLERANCE_DEFAULT_KEYS", "UNWAIVABLE_CHECKS", "WAIVER_KEYS", "DatasetSpec",
    "DateRules", "JobSpec", "Method", "NumberRules", "ProjectConfig", "Severity", "SortKey", "StringRules",
    "Tolerance", "Waiver", "dataset_rules", "discover_jobs", "job_folder", "job_rules", "load_job",
    "load_project_config", "parse_dataset", "parse_tolerance", "resolve_job", "temporal_tolerance",
]

"""The checks: registered in one place, each turning the engine's facts into a CheckResult with typed details.

Importing this package registers every check (:data:`parity.checks.core.CHECKS`) and every check's details types
(:data:`parity.checks.details.DETAILS`); see docs/architecture.md for adding a check.
"""

from parity.checks import core as core  # registers the checks (core imports every check module)

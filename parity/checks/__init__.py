"""The checks: registered in one place, each turning the engine's facts into a CheckResult."""

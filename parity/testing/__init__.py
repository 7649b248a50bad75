"""Helpers for tests and fixtures: build real SAS outputs without SAS (see :mod:`parity.testing.sas7bdat_writer`)."""

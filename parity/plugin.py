"""The pytest11 entry point (``parity.plugin``): the plugin itself lives in :mod:`parity.pytest_plugin.plugin`.

pytest registers this module, so it re-exports the hooks and fixtures defined there (and nothing else).
"""

from parity.pytest_plugin.plugin import parity_job, pytest_addoption, pytest_configure

__all__ = ["parity_job", "pytest_addoption", "pytest_configure"]

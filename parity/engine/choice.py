"""Which engine computes a comparison, and its settings: ``--engine`` / ``--parity-engine``, else
``[tool.parity] engine``, else polars.  Spark's settings come from ``[tool.parity.spark]`` (any Spark conf key, and
``master``) and ``--spark-master``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from parity.errors import UsageError

ENGINES = ("polars", "spark")


@dataclass(frozen=True)
class EngineChoice:
    name: str = "polars"
    spark_master: str | None = None
    spark_conf: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise UsageError(f"unknown engine {self.name!r}: use one of {', '.join(ENGINES)}")
        if self.name == "spark":
            require_pyspark()


#: how to install what the Spark engine needs
INSTALL_HINT = 'pip install "parity-sas[spark]"'


def require_pyspark() -> None:
    """Raise a clear error when pyspark (the ``spark`` extra) is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError(f"the Spark engine needs pyspark, which is not installed: {INSTALL_HINT}") from None


def choose(engine: str | None, spark_master: str | None, project: Any) -> EngineChoice:
    """The engine from the command line (``engine``, ``spark_master``) over the project's ``[tool.parity]``."""
    name = engine or getattr(project, "engine", None) or "polars"
    conf: Mapping[str, Any] = getattr(project, "spark", None) or {}
    return EngineChoice(name, spark_master, conf)

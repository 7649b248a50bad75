"""The SparkSession parity uses: the active one when there is one (a cluster, Databricks, a spark-submit job),
else a local session that parity creates, bound to the loopback address.

Settings, in increasing precedence: parity's defaults, ``[tool.parity.spark]`` in pyproject.toml (any Spark conf
key, ``master`` included), ``--spark-master``.  An active session is used as it is: parity never changes a session
it did not create.  Under ``spark-submit`` (no active session yet, but a gateway the submit started) the
session is built from spark-submit's own ``--master`` and ``--conf``, without the loopback defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parity.errors import UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
LOOPBACK = "127.0.0.1"

#: parity's defaults for a session it creates: loopback only, no UI, UTC session time, few shuffle partitions for a
#: local run, Arrow transfers (the only way parity moves rows between Python and the JVM)
DEFAULT_CONF: dict[str, str] = {
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
}


def require() -> None:
    """Raise a clear error when pyspark (the ``spark`` extra) is not installed."""
    from parity.engine.choice import require_pyspark

    require_pyspark()


def active() -> SparkSession | None:
    require()
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def get_session(master: str | None = None, conf: Mapping[str, Any] | None = None) -> SparkSession:
    """The active SparkSession, else a new local one (``master`` defaults to ``local[*]``) with ``conf``."""
    require()
    from pyspark.sql import SparkSession

    current = SparkSession.getActiveSession()
    if current is not None:
        return current
    settings = dict(DEFAULT_CONF)
    settings.update({str(k): str(v) for k, v in (conf or {}).items()})
    master = master or settings.pop("master", None) or settings.pop("spark.master", None)
    settings.pop("spark.master", None)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # under spark-submit: its --master and --conf rule
    if submitted and master is None:
        for key in ("spark.driver.host", "spark.driver.bindAddress"):  # the cluster's, not loopback
            settings.pop(key, None)
    master = master or (None if submitted else DEFAULT_MASTER)
    if master is not None and master.startswith("local"):  # loopback only; the workers run this interpreter
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(settings.pop("spark.app.name", "parity"))
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # no Java, a bad master URL, a port in use: say so, without a JVM traceback
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ("install Java 17 (e.g. apt-get install openjdk-17-jre-headless) and set JAVA_HOME"
                if "java" in text.lower() or "JAVA_HOME" in text else
                "check --spark-master and the settings in [tool.parity.spark]")
        raise UsageError(f"cannot start Spark (master {master}): {text}; {hint}") from None

"""The Spark engine: the same comparison as :mod:`parity.engine.core`, computed by Apache Spark.

Everything here imports pyspark lazily (it is the optional ``spark`` extra): :func:`parity.spark.session.require`
turns a missing pyspark into a clear error naming the extra.
"""

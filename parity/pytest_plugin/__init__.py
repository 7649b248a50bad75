"""The pytest plugin (``pytest --parity``)."""

"""Running jobs: ports in isolation, the run service, provenance."""

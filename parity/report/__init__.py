"""Renderers of the frozen result model (JSON, terminal).  Each reads a JobResult and nothing else."""

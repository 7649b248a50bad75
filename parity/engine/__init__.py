"""The comparison engine: plans the columns, normalises SAS semantics, computes the facts."""

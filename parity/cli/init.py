"""``parity init JOB``: scaffold a job folder (written in the next commit)."""

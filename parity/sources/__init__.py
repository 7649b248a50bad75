"""Sources: where tables come from (SAS files, Python outputs), with their metadata."""

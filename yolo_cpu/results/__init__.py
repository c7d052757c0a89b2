"""Results: the recommendation, the report, plots, the pull-request diff, the machines table."""

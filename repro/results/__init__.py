"""Results: the numbers a run's output files hold, and how two runs' outputs compare."""

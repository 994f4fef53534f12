"""Executing points: one point's run (``point``), how a run ends (``finish``), and runs whose
driver died (``orphans``)."""

"""Joint drills (联合应急演练): drill plans and their injects (``plan``), a run on the lab with
time-to-detect per inject (``run``), and the per-agency scorecards (``score``)."""

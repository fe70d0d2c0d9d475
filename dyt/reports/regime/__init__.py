"""The regime study (issue: when and why DyT catches up): the plan (``plan``), its numbers (``analysis``) and
``results/regime/`` (``report``). ``python -m dyt.reports.regime commands <model>`` prints the training
commands ``make regime-<model>`` runs; ``python -m dyt.reports.regime report [models]`` writes the results."""

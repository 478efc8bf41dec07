"""Experiments above the methods: the benchmark suites and the demo.

Every experiment has the same shape: a frozen plan dataclass with a ``quick`` and a
``full`` entry (``REFINEMENT_PLANS``, ``WEAKSTAT_PLANS``, ``DEMO_PLANS``), a ``run_*``
function writing into an empty output folder, and result rows written and read back by
``results.py`` (CSV) with tables and plots made from those rows.
"""

"""Whole jobs on one's own scans, built from the methods: cases from files into a
workspace (:mod:`.intake`) and batch refinement of a folder (:mod:`.batch`)."""

"""Evaluation: overlap and distance metrics, statistics, tables and plots."""

"""Fully supervised comparators of SCORE (trained on reference masks, not ratings)."""

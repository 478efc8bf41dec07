"""SCORE: refine a segmentation from per-region quality scores and error labels."""

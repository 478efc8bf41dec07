"""WeakStatSeg: learn to segment from a per-image ROI fraction and a small weak mask."""

"""Initial segmenters: TotalSegmentator (the foundation model) and an offline threshold
engine for bones, used when TotalSegmentator or its weights are not available."""

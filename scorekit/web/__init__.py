"""The web rating form (``scorekit rate``): light feedback in a browser, without Slicer."""

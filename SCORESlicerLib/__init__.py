"""What both Slicer modules share: MRML <-> scorekit conversion (``mrml``), child jobs whose
output becomes nodes (``pending``), the job panel and widget base (``jobpanel``,
``widget``; need Slicer's GUI) and the first-use dependency install (``dependencies``).
Never imports torch, MONAI or scipy (checked in the tests)."""

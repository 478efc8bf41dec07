"""``python -m scorekit`` (and ``PythonSlicer -m scorekit``) runs the command line."""

from scorekit.cli import main

raise SystemExit(main())

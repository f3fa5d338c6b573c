"""``python -m app …`` is the same as ``onethread …``."""

from app.cli import main

raise SystemExit(main())

"""``python -m manual_backprop verify``: the same as ``manual-backprop``."""

from .cli import main

raise SystemExit(main())

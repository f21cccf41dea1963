"""``python -m confide.server``: run the relay."""

from .cli import main

raise SystemExit(main())

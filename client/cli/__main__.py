"""``python -m confide.client.cli``: the ``confide`` command."""

import sys

from .entry import main

sys.exit(main())

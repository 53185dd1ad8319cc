"""``python -m digitnet`` is the same as the ``digitnet`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m orcha`` runs the command line."""

import sys

from orcha.cli import main

sys.exit(main())

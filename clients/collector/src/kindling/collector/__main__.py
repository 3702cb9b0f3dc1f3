"""``python -m kindling.collector``: the ``kindling-collector`` command."""

import sys

from kindling.collector.cli import main

sys.exit(main())

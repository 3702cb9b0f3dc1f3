import sys

from kindling.server.cli import main

sys.exit(main())

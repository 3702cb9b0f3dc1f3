"""Keep grpc's C core quiet in the ``kindling`` command.

Unless $GRPC_VERBOSITY says otherwise, grpc's core library writes
informational log lines to stderr, for example "Got goaway" when the service
stops, which would garble the command's one-line messages. The core reads the
variable once, when grpc is first imported, so the command imports this
module before anything that imports grpc. The library itself leaves the
variable alone.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

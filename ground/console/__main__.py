"""``python -m ground.console``: the operator console."""

import sys

from ground.console import main

sys.exit(main())

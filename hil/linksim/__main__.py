"""``python -m hil.linksim``: run the link-impairment proxy (or ``... ctl`` to steer one)."""

from __future__ import annotations

import sys

from hil.linksim.cli import main

sys.exit(main())

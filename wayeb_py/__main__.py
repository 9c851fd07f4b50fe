"""``python -m wayeb_py``: see `wayeb_py.cli`."""

import sys

from .cli import main

sys.exit(main())

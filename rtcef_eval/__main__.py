"""``python -m rtcef_eval``: see :mod:`rtcef_eval.cli`."""

from rtcef_eval.cli import main

raise SystemExit(main())

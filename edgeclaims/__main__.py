"""``python -m edgeclaims``: the same as the ``edgeclaims`` command."""

import sys

from edgeclaims.cli import main

sys.exit(main())

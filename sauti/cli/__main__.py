"""``python -m sauti.cli`` runs the ``sauti`` command."""

import sys

from sauti.cli import main

sys.exit(main())

"""``python -m sauti.cli`` runs the ``sauti`` command."""

import sys

from sauti.cli import main

if __name__ == "__main__":  # not again in a worker process started by spawning (serve --workers)
    sys.exit(main())

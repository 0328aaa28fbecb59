"""``python -m app`` runs the same entry point as the ``license-companion`` command."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m fer.batch ...``: the command line of :mod:`fer.batch` (see :func:`fer.batch.main`)."""

import sys

from fer.batch import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m captum_smooth``: the ``captum-smooth`` command line."""

import sys

from captum_smooth.cli import main

if __name__ == "__main__":
    sys.exit(main())

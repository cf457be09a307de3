"""`python -m dcgan ...` runs the command-line interface."""

import sys

from dcgan.cli import main

sys.exit(main())

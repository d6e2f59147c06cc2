"""`python -m vodforge` runs the CLI."""

import sys

from vodforge.cli.main import main

sys.exit(main())

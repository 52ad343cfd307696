"""``python -m pose3d_cli`` runs the command-line interface."""

import sys

from pose3d_cli.cli import main

sys.exit(main())

"""``python -m graphrep`` (also what ``torchrun -m graphrep`` runs)."""

import sys

from graphrep.cli import main

sys.exit(main())

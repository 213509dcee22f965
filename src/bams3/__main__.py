"""``python -m bams3`` is the same as the ``bams3`` command."""
import sys

from bams3.cli import main

sys.exit(main())

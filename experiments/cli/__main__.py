"""``python -m partialfed.experiments.cli``: the ``partialfed`` command."""

import sys

from partialfed.experiments.cli import main

sys.exit(main())

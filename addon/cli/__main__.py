"""``python -m addon.cli ...``: the ``postpass`` command without installing the package."""
import sys

from . import main

sys.exit(main())

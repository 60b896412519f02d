"""``python -m doclrp.cli``: the ``doclrp`` command without the console script."""

import sys

from doclrp.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

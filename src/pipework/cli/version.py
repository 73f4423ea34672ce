"""pipework's version, from the one place it is written: ``pipework.__version__``
(which pyproject.toml reads too, as the distribution's version)."""

from __future__ import annotations

import sys


def package_version() -> str:
    # The package's __init__ has run already: it is this module's parent. It is looked
    # up, not imported, because a package's modules never import its __init__.
    return str(sys.modules[__name__.partition(".")[0]].__version__)

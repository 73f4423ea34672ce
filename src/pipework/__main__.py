"""``python -m pipework``."""

from .cli.main import exit_with_main

exit_with_main()

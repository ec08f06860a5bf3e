"""`python -m codex_convert_proxy` = the `codex-convert-proxy` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

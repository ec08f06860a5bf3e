"""`python -m codex_convert_proxy.mock [--listen HOST:PORT] [--script FILE] …`"""
import sys

from . import main

sys.exit(main())

"""``python -m codex_mcp_swarm``: the same as the ``codex-mcp-swarm`` command."""

import sys

from .cli import main

sys.exit(main())

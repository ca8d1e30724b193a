"""codex-mcp-swarm: an MCP server that runs many Codex CLI agents at once."""

__version__ = "0.1.0"

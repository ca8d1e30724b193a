"""The command line as people see it: task tables, the live view, ``run``, ``show``, ``doctor``.

Every module here reads the shared task store or drives the engine directly; none speaks MCP
(only ``doctor`` and ``setup``, which write an MCP client's entry for this server, name its tools
there). Everything comes from the engine's surface (``codex_mcp_swarm.engine``). While a
command's event loop runs (``run``, ``fork``, ``review``, ``cancel``, ``land --async`` and
``--watch``) it awaits the engine's methods, which keep
blocking work off that loop; without a loop a command calls their ``*_sync`` twins directly.
``cli`` parses flags and calls one ``*_command`` function per subcommand, which returns the
process exit code.
"""

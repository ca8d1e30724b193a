"""The command line as people see it: task tables, the live view, ``run``, ``show``, ``doctor``.

Every module here reads the shared task store or drives the engine directly; none knows MCP.
``cli`` parses flags and calls one ``*_command`` function per subcommand, which returns the
process exit code.
"""

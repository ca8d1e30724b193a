"""The MCP face: the tools, resources and Tasks a model uses, over the engine's public surface.

``server`` builds it and lists the tool modules; ``stdio_front`` and ``http`` serve it. Every
module here translates a request into an engine call and renders what comes back; none holds
task logic, reads the store or runs git.
"""

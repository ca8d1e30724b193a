"""The web face: a live board of the swarm in a browser (tasks, timelines, diffs, landing).

Served beside ``/mcp`` by the HTTP server and alone by ``codex-mcp-swarm board``. It may import
engine/, codex/ and git/, never mcp/ or console/.
"""

"""Everything about the Codex CLI, and nothing about the store, processes or faces: the argv of
one run (``command``), its JSONL events as typed records (``events``) and their pure fold into
progress (``progress``), the reason on its stderr (``stderr``), a command as its author wrote it
(``shell``), whether it will find credentials (``credentials``) and the pinned install
(``install``).
"""

"""Git plumbing for tasks: one worktree and branch per task, and bringing the work back safely."""

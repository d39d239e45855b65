"""The closed loop, the planners, diagnosis, the runner and the CLI."""

"""Training runs on disk: the run-folder protocol and the background job that trains one."""

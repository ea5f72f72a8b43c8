"""RQ worker: job functions and the entry point (`python -m worker`)."""

"""The store path: spans into SQL step and event tables."""

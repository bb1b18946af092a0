"""The REST API and web page over the store."""

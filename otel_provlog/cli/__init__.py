"""The ``provlog`` command line."""

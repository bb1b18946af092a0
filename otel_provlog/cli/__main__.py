"""``python -m otel_provlog.cli``: the same as the ``provlog`` command."""

from otel_provlog.cli import main

main()

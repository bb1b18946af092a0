"""The ``provlog`` command line: ``provlog --help`` lists the commands.

The command line needs the ``store`` extra (``pip install 'otel-provlog[store]'``); the
instrumentation package itself does not.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run ``provlog`` with ``argv`` (the process arguments when None)."""
    try:
        from otel_provlog.cli.commands import provlog
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        sys.stderr.write(
            f"provlog: {error}. The command line needs the store extra: "
            "pip install 'otel-provlog[store]'\n"
        )
        raise SystemExit(2) from error
    provlog.main(args=argv, prog_name="provlog")

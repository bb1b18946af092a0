"""MkDocs hooks of the site: pages that live elsewhere in the repository.

``grafana.md`` is ``dashboards/README.md`` itself (its first heading retitled), so the
dashboards are described in one place. Named in ``mkdocs.yml`` (``hooks:``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"grafana.md": (ROOT / "dashboards" / "README.md", "# Grafana dashboards")}


def on_files(files: Files, config: Any) -> Files:
    """Add the pages kept outside ``docs/``."""
    for name, (source, title) in PAGES.items():
        text = source.read_text(encoding="utf-8")
        first, _, rest = text.partition("\n")
        note = f"\n*This page is `{source.relative_to(ROOT)}` in the repository.*\n"
        content = f"{title}\n{note}{rest}" if first.startswith("# ") else text
        files.append(File.generated(config, name, content=content))
    return files

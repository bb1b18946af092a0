"""MkDocs hooks of the site: text that lives elsewhere in the repository, shown once.

- ``grafana.md`` is ``dashboards/README.md`` itself (its first heading retitled), so the
  dashboards are described in one place;
- a line ``<!-- include: NAME -->`` in a page becomes the file ``docs/NAME`` in a code block
  (``scaling-out.md`` shows ``collector.yaml`` so).

Named in ``mkdocs.yml`` (``hooks:``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.MULTILINE)
LANGUAGES = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".py": "python"}
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


def _included(match: re.Match[str]) -> str:
    path = DOCS / match.group(1)
    language = LANGUAGES.get(path.suffix, "text")
    return f"```{language}\n{path.read_text(encoding='utf-8').rstrip()}\n```"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace each include line with the file it names."""
    return INCLUDE.sub(_included, markdown)

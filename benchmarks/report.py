"""What every benchmark script does with its table: write it (and its raw numbers), print it, and, when asked, put
it between the `<!-- NAME -->` markers of the page that holds them: a page of the docs site (`docs/`) or README.md.
The table's first line names the command."""

import json
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RESULTS = "benchmarks/results/"  # where the tables' pictures lie, as a path from the repository's root


def marked_page(marker: str) -> Path:
    """The one page (README.md or a page under docs/) with the `<!-- marker -->` ... `<!-- /marker -->` pair."""
    pages = [README, *sorted(p for p in DOCS.rglob("*.md") if "results" not in p.relative_to(DOCS).parts)]
    holding = [p for p in pages if f"<!-- {marker} -->" in p.read_text() and f"<!-- /{marker} -->" in p.read_text()]
    if len(holding) != 1:
        where = ", ".join(str(p.relative_to(ROOT)) for p in holding) or "no page"
        raise SystemExit(f"the markers <!-- {marker} --> are in {where}: put them in exactly one page")
    return holding[0]


def for_page(table: str, page: Path) -> str:
    """`table` with its links to benchmarks/results/ made relative to the file `page` (a page of the docs goes through
    docs/results, a link to that folder, so that the site has the pictures too)."""
    page = Path(page).resolve()
    results = DOCS / "results" if DOCS in page.parents else ROOT / RESULTS
    return table.replace(f"]({RESULTS}", f"]({os.path.relpath(results, page.parent)}/")


def publish(table: str, raw, output: str | Path, marker: str | None = None) -> None:
    """`table` (Markdown) to `output`, `raw` (JSON-able) beside it as .json; with `marker`, into its page."""
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    table = f"Made by `{command}`.\n\n{table}"
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(for_page(table, out) + "\n")
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str))
    print(table)
    if marker:
        page = marked_page(marker)
        text = re.sub(
            rf"<!-- {marker} -->.*<!-- /{marker} -->",
            lambda _: f"<!-- {marker} -->\n{for_page(table, page)}\n<!-- /{marker} -->",
            page.read_text(),
            flags=re.S,
        )
        page.write_text(text)
        print(f"wrote the table into {page.relative_to(ROOT)}")

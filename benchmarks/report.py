"""What every benchmark script does with its table: write it (and its raw numbers), print it, and put it
between `<!-- NAME -->` markers in README.md when asked. The table's first line names the command."""

import json
import re
import shlex
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def publish(table: str, raw, output: str | Path, marker: str | None = None) -> None:
    """`table` (Markdown) to `output`, `raw` (JSON-able) beside it as .json; with `marker`, into README.md."""
    command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]])
    table = f"Made by `{command}`.\n\n{table}"
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2, default=str))
    print(table)
    if marker:
        text = re.sub(
            rf"<!-- {marker} -->.*<!-- /{marker} -->",
            lambda _: f"<!-- {marker} -->\n{table}\n<!-- /{marker} -->",
            README.read_text(),
            flags=re.S,
        )
        README.write_text(text)

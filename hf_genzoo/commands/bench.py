"""`genzoo bench`: the trilemma; every family with trilemma rows trained (or taken) on one dataset and scored."""

import json
from pathlib import Path

from ..trilemma import trilemma_families
from ..trilemma_bench import add_arguments, bench


def bench_command_parser(subparsers):
    parser = subparsers.add_parser(
        "bench",
        description=f"Train (or take) every family with trilemma rows ({', '.join(trilemma_families())}) and a "
        "feature classifier on one dataset, and score their samples: FD_local, KID_local, precision/recall, "
        "density/coverage, label entropy, NFE, images/s, bits/dim. The scores go to trilemma.json and a table; "
        "benchmarks/trilemma.py runs the same code and adds the verdict and the plot.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--output_dir", default="genzoo-bench", help="where the scores and grids go (default: genzoo-bench)"
    )
    parser.set_defaults(func=bench_command)
    return parser


def bench_command(args) -> None:
    rows, caption = bench(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = [{"name": r.name, "nfe": r.nfe, "bits_per_dim": r.bits_per_dim, **r.scores} for r in rows]
    (out / "trilemma.json").write_text(json.dumps({"caption": caption, "rows": raw}, indent=2))
    columns = list(dict.fromkeys(k for r in rows for k, v in r.scores.items() if isinstance(v, float)))
    lines = ["| row | " + " | ".join(columns) + " | NFE |", "|---" * (len(columns) + 2) + "|"]
    for r in rows:
        cells = [f"{r.scores[c]:.3g}" if isinstance(r.scores.get(c), float) else "" for c in columns]
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {r.nfe or ''} |")
    print("\n".join(lines))
    print(f"\nwrote {out / 'trilemma.json'} and a grid per row in {out / 'trilemma'}/")

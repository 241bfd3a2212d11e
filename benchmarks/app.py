"""`genzoo app` on this machine: the time from the command to the first page served, and the time of one request of
every tab's panels at their defaults, timed in a real browser (Debian's chromium, headless) from the click to the
output shown; a screenshot of every tab.

    python benchmarks/app.py --models_dir /tmp/appzoo --update_readme    # the models of a folder
    python benchmarks/app.py --work_dir /tmp/appzoo                      # trains a zoo at the recipes' sizes first
    python benchmarks/app.py --quick                                     # a tiny zoo, one repeat: checks it runs

Without `--models_dir` it trains one model of every family at its recipe's size (`hf_genzoo.app.zoo`, `--steps`
steps each: real network sizes, so real request times) into `--work_dir`. The first page's time is the median of
`--launches` starts of `genzoo app` (a fresh process each: Python, torch and gradio imports, loading every model,
building the page). Each panel's request is pressed once to warm it up (the PCA map's fit, plotly's first figure),
then `--repeats` times; the table gives the first and the median. Writes benchmarks/results/app.md (+ .json) and the
screenshots to benchmarks/results/app/.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import publish

HERE = Path(__file__).resolve().parent


def start_app(models_dir: Path, port: int, log_path: Path):
    """`genzoo app --models_dir` in a fresh process; returns it and the seconds to its first page."""
    from hf_genzoo.app.browser import wait_until_served

    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "hf_genzoo.cli", "app", "--models_dir", str(models_dir), "--port", str(port)]
    start = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=env)
    wait_until_served(f"http://127.0.0.1:{port}/", timeout=600, process=process)
    return process, time.perf_counter() - start


def stop(process) -> None:
    process.terminate()
    process.wait(60)


def inputs_for(model, folder: Path) -> dict:
    """Upload files for a model's panels: two of its test images (or digits), a held-out noisy clip, a test set."""
    import numpy as np
    import PIL.Image

    from hf_genzoo.app import panels
    from hf_genzoo.data import load_data
    from hf_genzoo.data.point_files import write_ply

    files = {"prompt": "a photo of a shoe"}
    examples = panels.image_examples(model, 2)
    if len(examples) < 2:
        digits = load_data("images", "digits", "test").images
        examples = []
        for i in (0, 5):
            PIL.Image.fromarray(np.asarray(digits[i][0])).save(folder / f"digit_{i}.png")
            examples.append(str(folder / f"digit_{i}.png"))
    files["image"], files["other_image"] = examples
    if model.family.data_kind == "audio":
        files["audio"] = panels.audio_examples(model, 1)[0]
    if model.family.data_kind == "point_sets":
        points = load_data("point_sets", "shapes3d", "test", num_points=2048).arrays["points"][0]
        files["points"] = str(write_ply(np.asarray(points), folder / "set.ply"))
    return files


def what(panel, model) -> str:
    """What one request of the panel does at its defaults, in words."""
    kind = type(panel).__name__
    if kind == "Samples":
        options = ", ".join(f"{k} {v}" for k, v in panel.defaults.items())
        return f"{panel.batch} samples" + (f" ({options})" if options else "")
    if kind == "TextToImage":
        d = panel.defaults
        return f"{panel.batch} images ({d['scheduler']} {d['steps']} steps, guidance {d['guidance_scale']:g})"
    if kind in ("Interpolation", "LatentWalk"):
        return (
            f"two images encoded, {panel.frames + 1} decodings" if kind == "Interpolation" else f"{panel.frames} frames"
        )
    return {
        "Reconstruction": "one image: reconstruction, code on the PCA map",
        "Likelihood": "bits/dim of one image",
        "AudioDenoise": "one clip denoised, spectrograms",
        "Classify": "one input classified",
        "TextImageMatch": "one image against two texts",
    }[kind]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models_dir", help="a folder of trained models (default: train a zoo into --work_dir)")
    parser.add_argument("--work_dir", default=None, help="where the zoo is trained (default: a temporary folder)")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps per zoo model (default: 20)")
    parser.add_argument("--families", default="", help="comma-separated families of the zoo (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed requests per panel after a warm-up (median)")
    parser.add_argument("--launches", type=int, default=3, help="starts of `genzoo app` timed (median)")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--output", default=str(HERE / "results" / "app.md"))
    parser.add_argument("--screenshots", default=None, help="folder of the tab screenshots (default: beside --output)")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--quick", action="store_true", help="a tiny zoo, one launch, one repeat: checks it runs")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    from hf_genzoo.app import browser, find_trilemma, load_models
    from hf_genzoo.app.models import discover_models
    from hf_genzoo.app.zoo import train_zoo
    from hf_genzoo.trilemma_bench import device_name

    if args.quick:
        args.repeats, args.launches = 1, 1
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="genzoo-app-bench-"))
    models_dir = Path(args.models_dir) if args.models_dir else work
    if not args.models_dir:
        families = [f for f in args.families.split(",") if f] or None
        train_zoo(work, families, "tiny" if args.quick else "recipe", None if args.quick else args.steps)
    shots = Path(args.screenshots or Path(args.output).with_suffix(""))
    shots.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="genzoo-app-inputs-"))

    first_pages, process = [], None
    for i in range(args.launches):
        process, seconds = start_app(models_dir, args.port, scratch / f"app-{i}.log")
        first_pages.append(seconds)
        print(f"launch {i + 1}: first page after {seconds:.1f} s")
        if i < args.launches - 1:
            stop(process)
    models = [m for m in load_models(discover_models(models_dir), log=lambda *a: None) if m.ok]
    rows = []
    try:
        with browser.browser() as page:
            page.goto(f"http://127.0.0.1:{args.port}/")
            page.wait_for_selector("button[role=tab]")
            for model in models:
                browser.open_model(page, model)
                files = inputs_for(model, scratch)
                for panel in model.family.panels:
                    times = []
                    for _ in range(1 + args.repeats):
                        out = browser.exercise(page, model, panel, files)
                        if out["errors"]:
                            raise RuntimeError(f"{model.name} {type(panel).__name__}: {out['errors']}")
                        times.append(out["seconds"])
                    rows.append(
                        {
                            "tab": model.family.name,
                            "model": model.name,
                            "panel": panel.title,
                            "request": what(panel, model),
                            "first_s": times[0],
                            "median_s": statistics.median(times[1:]),
                            "times_s": times,
                            "parameters": model.parameters,
                        }
                    )
                    print(f"{model.name} / {panel.title}: first {times[0]:.2f} s, median {rows[-1]['median_s']:.2f} s")
                page.screenshot(path=str(shots / f"{model.name.replace('/', '-')}.png"), full_page=True)
            if find_trilemma(models_dir):
                browser.open_tab(page, "Compare")
                page.wait_for_selector("#trilemma-plot img")
                page.screenshot(path=str(shots / "compare.png"), full_page=True)
    finally:
        stop(process)

    lines = [
        f"{len(models)} models from `{models_dir}` on {device_name()}; chromium headless on the same machine. "
        f"From `genzoo app` to the first page served: **{statistics.median(first_pages):.1f} s** (median of "
        f"{len(first_pages)} starts: imports, loading every model, building the page).",
        "",
        "| tab | panel | one request at its defaults | parameters | first request (s) | median (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tab']} | {r['panel']} | {r['request']} | {r['parameters'] / 1e6:.2f} M | {r['first_s']:.2f} | "
            f"{r['median_s']:.2f} |"
        )
    lines.append(
        f"\nA request is timed in the browser from the click to the output shown (median of {args.repeats} after one "
        "warm-up). Screenshots of every tab: `benchmarks/results/app/`."
    )
    raw = {"first_page_s": first_pages, "rows": rows, "models_dir": str(models_dir), "device": device_name()}
    publish("\n".join(lines), raw, args.output, "app" if args.update_readme else None)


if __name__ == "__main__":
    main()

"""`genzoo app`: serve the Gradio app over trained models (see `hf_genzoo.app`)."""

import argparse
import os
import threading
import time

import torch

from ..app import build_app, launch
from ..app.models import collect_models
from ..errors import UserInputError


def app_command_parser(subparsers):
    p = subparsers.add_parser(
        "app",
        description="Look at, play with and compare trained models in the browser: a Gradio app with a tab per model "
        "(its panels come from its family: samples, reconstructions and the PCA map of codes, interpolation, latent "
        "walks, likelihood, prompts, audio denoising, 3-D point views) and a Compare tab for the trilemma "
        "benchmark's results. Runs on a CPU with small batches and few steps; every random output has a seed.",
        epilog="examples:\n  genzoo app --model vae=runs/vae --model t2i=user/text2image\n"
        "  genzoo app --models_dir genzoo-bench --port 7861",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="NAME=SOURCE",
        help="a model to show: NAME (its tab) = a `genzoo train` output folder or a Hub repo id; repeat for more",
    )
    p.add_argument(
        "--models_dir",
        help="a folder of trained outputs: every saved pipeline under it gets a tab (e.g. the benchmark's work dir)",
    )
    p.add_argument(
        "--compare",
        default=None,
        help="folder with the trilemma results (trilemma.json/.md, trilemma.png) for the Compare tab "
        "(default: --models_dir)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--device", default=None, help="torch device of the models (default: cuda when there is one)")
    p.add_argument("--title", default="hf_genzoo", help="the page's title")
    p.set_defaults(func=app_command)
    return p


def app_command(args) -> None:
    start = time.perf_counter()
    models = collect_models(args.model, args.models_dir)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home: these machines have no network

    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    demo = build_app(models, compare_dir=args.compare or args.models_dir, device=device, title=args.title)
    try:
        launch(demo, args.host, args.port)
    except OSError as err:  # the port is taken
        raise UserInputError(f"cannot serve on {args.host}:{args.port}: {err}; pick another --port") from None
    print(
        f"genzoo app: serving {len(models)} model(s) on http://{args.host}:{args.port} "
        f"({time.perf_counter() - start:.1f} s after start); Ctrl+C stops it",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        demo.close()

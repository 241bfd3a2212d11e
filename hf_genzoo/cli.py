"""The `genzoo` command: train, sample, evaluate, push, bench, app, reconstruct, embed, denoise, demo.

    genzoo demo                                        # 1-minute tour on the bundled digits
    genzoo train mlp_autoencoder --dataset fashion_mnist --epochs 10
    genzoo evaluate --model genzoo-output --dataset fashion_mnist
    genzoo train ddpm --dataset fashion_mnist --output_dir ddpm-fashion
    genzoo sample --model ddpm-fashion --scheduler dpmsolver++ --steps 20 --num_images 64
    genzoo push ddpm-fashion user/ddpm-fashion
    genzoo app --models_dir runs                       # every trained model under runs/, in the browser
    genzoo push --space user/zoo --model vae=runs/vae  # the same app, as a Hugging Face Space
    genzoo embed --model genzoo-output --dataset fashion_mnist
    genzoo reconstruct --model genzoo-output --dataset fashion_mnist --noise gaussian:0.3
    genzoo train audio_denoiser --output_dir denoiser       # the embedded speech clips, noise mixed in
    genzoo denoise noisy.wav clean.wav --model denoiser

Each command is a module of `hf_genzoo/commands/` with `<name>_command_parser(subparsers)` and `<name>_command(args)`
(as `accelerate/commands/`). Only the module of the command being run is imported, so `genzoo --help` loads neither
torch nor a family. What a command knows of the families (which can sample, with which options; which can be
evaluated) comes from the registry (`hf_genzoo.registry`). A mistake in what was typed ends with its message
(`UserInputError`); anything else is a bug and shows its traceback.
"""

import argparse
import importlib
import sys

from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import UserInputError

# The Hub's errors about what was asked for (Python callers get them typed; the CLI says them in one line)
HUB_USER_ERRORS = (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, LocalEntryNotFoundError)

# Every command, with its line in `genzoo --help`; `hf_genzoo.commands.<name>` holds it.
COMMANDS = {
    "train": "train a model (see `genzoo train MODEL --help`)",
    "sample": "draw samples from any trained generative model",
    "evaluate": "held-out metrics of a saved model; with --classifier, any model's sample quality",
    "reconstruct": "grid of images over their reconstructions (optionally corrupted first)",
    "embed": "PCA of the codes as a thumbnail scatter plot, plus a reconstruction grid",
    "push": "share a trained model on the Hub, with its model card; or the genzoo app with models, as a Space",
    "bench": "the trilemma: quality, coverage and speed of every model on one dataset",
    "app": "look at, play with and compare trained models in the browser",
    "denoise": "denoise an audio file with a trained audio denoiser",
    "demo": "train the classic autoencoder on the bundled digits and draw the results",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The `genzoo` parser for the command line `argv`: the command it names gets its whole parser, the others
    their help line only."""
    parser = argparse.ArgumentParser(
        prog="genzoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        if argv[:1] != [name]:
            subparsers.add_parser(name, help=summary)
            continue
        # The command's module imports torch, diffusers and the registry's families: only the one being run.
        module = importlib.import_module(f"hf_genzoo.commands.{name}")
        command_parser = getattr(module, f"{name}_command_parser")
        if name == "train":  # the family named on the command line gives the flags' defaults (its recipe)
            command_parser(subparsers, argv[1:])
        else:
            command_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
        args.func(args)
    except UserInputError as err:  # what was typed cannot work: say what, no traceback
        raise SystemExit(f"genzoo {argv[0]}: error: {err}") from None
    except HUB_USER_ERRORS as err:  # a repo id or revision that is not there, no access, or no network and no cache
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemExit(f"genzoo {argv[0]}: error: {type(err).__name__}: {first}") from None


if __name__ == "__main__":
    main()

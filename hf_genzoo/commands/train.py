"""`genzoo train MODEL`: the one accelerate loop for every family (the same code as `scripts/train.py`)."""

from ..records import dumps
from ..training import train
from ..training.args import add_train_arguments, recipe_defaults
from ..training.config import config_from_namespace


def train_command_parser(subparsers, argv: list[str]):
    """The parser of `genzoo train`; `argv` (the rest of the command line) names the family, whose recipe gives the
    flags' defaults, so that `genzoo train vae --help` shows the ones a VAE trains with."""
    description = "Train a model with the one accelerate loop (same as scripts/train.py)."
    parser = subparsers.add_parser("train", add_help=False, description=description)
    add_train_arguments(parser, model_as_flag=False)
    recipe_defaults(parser, argv)
    parser.set_defaults(func=train_command)
    return parser


def train_command(args) -> None:
    result = train(config_from_namespace(args))
    if result.main_process:
        print(f"saved the pipeline to {result.output_dir}; held-out metrics: {dumps(result.metrics)}")

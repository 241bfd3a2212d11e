"""The training command line, shared by `genzoo train MODEL ...` and `scripts/train.py --model MODEL ...`.

Built from `TrainConfig`'s fields; the chosen family's `recipe` becomes the defaults, so
`genzoo train gan --help` shows the GAN's learning rate, and an explicit flag always wins.
"""

import argparse

from ..compat import argparse_actions
from ..registry import families, get_family
from .config import TrainConfig, add_dataclass_arguments, config_from_namespace

EXAMPLES = """examples:
  genzoo train mlp_autoencoder --dataset digits --epochs 50
  genzoo train ddpm --dataset fashion_mnist --prediction_type v_prediction --push_to_hub --hub_model_id user/ddpm
  genzoo train conv_autoencoder --dataset fashion_mnist --model_config latent_dim=16 --mixed_precision bf16
  genzoo train mlp_autoencoder --dataset fashion_mnist --noise gaussian:0.3      # denoising autoencoder
  accelerate launch scripts/train.py --model mlp_autoencoder --dataset fashion_mnist --resume_from_checkpoint latest
"""


def add_train_arguments(parser: argparse.ArgumentParser, model_as_flag: bool) -> None:
    """Add the training flags to `parser`, which must be made with `add_help=False` (`parse_train_args`
    adds --help once the recipe's defaults are in, so --help shows them)."""
    if model_as_flag:
        parser.add_argument("--model", required=True, choices=list(families()), help="model family to train")
    else:
        parser.add_argument("model", choices=list(families()), help="model family to train")
    add_dataclass_arguments(parser, TrainConfig, skip=("model",))
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def recipe_defaults(parser: argparse.ArgumentParser, argv: list[str] | None) -> None:
    """Make the recipe of the family `argv` names the defaults of `parser`'s flags (and say so in their help), then
    add --help, so that --help shows them."""
    try:
        known, _ = parser.parse_known_args(argv)
        recipe = get_family(known.model).objective.recipe
        parser.set_defaults(**recipe)
        for action in argparse_actions(parser):  # say which defaults are the family's own
            if action.dest in recipe and action.help:
                action.help = action.help.replace(
                    "(default: %(default)s)", f"(default: %(default)s, the {known.model} recipe)"
                )
    except SystemExit:  # no model given (e.g. plain --help): the full parse reports it
        pass
    parser.add_argument("-h", "--help", action="help", help="show this help message and exit")


def parse_train_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> TrainConfig:
    """Parse twice: first to learn the model, then with its recipe as the defaults."""
    recipe_defaults(parser, argv)
    return config_from_namespace(parser.parse_args(argv))

"""Train any hf_genzoo model with accelerate:

    accelerate launch scripts/train.py --model mlp_autoencoder --dataset fashion_mnist --epochs 10

The same code as `genzoo train mlp_autoencoder ...`; see `python scripts/train.py --help`.
"""

import argparse

from hf_genzoo.training import train
from hf_genzoo.training.args import add_train_arguments, parse_train_args


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Train an hf_genzoo model (same flags as `genzoo train`).", add_help=False
    )
    add_train_arguments(parser, model_as_flag=True)
    result = train(parse_train_args(parser, argv))
    if result.main_process:  # one line, not one per process
        print(f"saved the pipeline to {result.output_dir}; held-out metrics: {result.metrics}")


if __name__ == "__main__":
    main()

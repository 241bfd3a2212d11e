"""The `genzoo` commands, one module each (as `accelerate/commands/`).

Each module has `<name>_command_parser(subparsers)`, which adds its parser to `genzoo`'s and sets `func` to
`<name>_command(args)`, the command itself. `hf_genzoo/cli.py` builds the parser of the command being run only (the
others are one help line each), so `genzoo --help` imports neither torch nor a family. The modules import torch,
diffusers and the families inside their command functions for the same reason.

    common.py       the flags and loading several commands share (a model and its data, the sampling options)
    train.py        genzoo train MODEL ...          one accelerate loop for every family
    sample.py       genzoo sample --model DIR ...   a grid (and files) of samples, any generative family
    evaluate.py     genzoo evaluate --model DIR     held-out metrics, or with --classifier sample quality
    bench.py        genzoo bench                    the trilemma: every family on one dataset
    app.py          genzoo app                      the Gradio app over trained models
    push.py         genzoo push DIR USER/NAME       a model to the Hub, or the app as a Space
    reconstruct.py  genzoo reconstruct --model DIR  originals over reconstructions
    embed.py        genzoo embed --model DIR        PCA map of the codes
    denoise.py      genzoo denoise IN OUT --model   an audio file through a trained denoiser
    demo.py         genzoo demo                     the 1-minute tour on the bundled digits
"""

"""`genzoo push`: a trained model to a Hub model repo with its card, or the genzoo app with models as a Space."""

from ..app.models import collect_models
from ..app.space import push_space, space_models
from ..errors import UserInputError
from ..hub.push import PushError, push_to_hub


def push_command_parser(subparsers):
    p = subparsers.add_parser(
        "push",
        help="share a trained model on the Hub, with its model card; or the genzoo app with models, as a Space",
        usage="genzoo push [-h] OUTPUT_DIR REPO_ID [--revision R] [--portable] [--private] [--commit_message M]\n"
        "       genzoo push [-h] --space USER/NAME --model NAME=FOLDER_OR_REPO [--model ...] [--models_dir DIR] "
        "[--title T] [--requirement SPEC] [--private] [--commit_message M]",
        description="Push a `genzoo train` output folder to a Hub repo in one commit: the pipeline (safetensors "
        "only), a model card rendered for the repo, the sample grid and metrics. With --space, publish the genzoo "
        "app (`genzoo app`) with the models of --model/--models_dir as a Gradio Space instead: local folders go up "
        "into the Space, Hub ids stay ids. The token comes from HF_TOKEN or `hf auth login`.",
    )
    p.add_argument("output_dir", nargs="?", help="folder written by `genzoo train` (not with --space)")
    p.add_argument("repo_id", nargs="?", help="Hub repo, user/name (created when missing; not with --space)")
    p.add_argument(
        "--space", default=None, metavar="USER/NAME", help="publish the genzoo app as this Space (created when missing)"
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="NAME=FOLDER_OR_REPO",
        help="with --space: a model the app shows in its tab NAME, a `genzoo train` folder or a Hub model id; repeat",
    )
    p.add_argument(
        "--models_dir",
        default=None,
        metavar="DIR",
        help="with --space: every saved pipeline under this folder (named by its path)",
    )
    p.add_argument("--title", default=None, metavar="T", help="with --space: the Space's title (default: its name)")
    p.add_argument(
        "--requirement",
        default=None,
        metavar="SPEC",
        help="with --space: the requirements.txt line that installs hf_genzoo on the Space, e.g. a git+https:// "
        "URL (default: hf_genzoo[app]==<this version>)",
    )
    p.add_argument("--private", action="store_true", help="create the repo (or Space) as private")
    p.add_argument("--revision", default=None, help="branch to commit to, created from main when new (default: main)")
    p.add_argument(
        "--commit_message",
        default=None,
        help="commit message (default: 'Upload <pipeline> ...'; for a Space 'Show <models> ...')",
    )
    p.add_argument(
        "--portable",
        action="store_true",
        help="also push the model and pipeline source files, so that diffusers alone loads the repo with "
        "DiffusionPipeline.from_pretrained(repo_id, trust_remote_code=True)",
    )
    p.set_defaults(func=push_command)
    return p


def push_command(args) -> None:
    if args.space:
        return _push_space(args)
    space_only = [f for f in ("model", "models_dir", "title", "requirement") if getattr(args, f) is not None]
    if space_only:
        raise UserInputError(f"--{', --'.join(space_only)} only work with --space user/name (the app as a Space)")
    if args.output_dir is None or args.repo_id is None:
        raise UserInputError(
            "push takes OUTPUT_DIR REPO_ID (a trained model to a model repo), or --space user/name "
            "--model NAME=FOLDER_OR_REPO (the genzoo app with those models, as a Space)"
        )
    try:
        commit = push_to_hub(
            args.output_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            portable=args.portable,
        )
    except PushError as err:  # the Hub failed or refused: its message, no traceback
        raise SystemExit(f"genzoo push: error: {err}") from None
    revision = f", revision={args.revision!r}" if args.revision else ""
    print(
        f"pushed {args.output_dir} to {commit.repo_url} (commit {commit.oid[:8]}); load it with "
        f"from_pretrained({commit.repo_url.repo_id!r}{revision})"
    )


def _push_space(args) -> None:
    model_only = [f for f in ("revision", "portable") if getattr(args, f)]
    if args.output_dir is not None or model_only:
        given = [*(["OUTPUT_DIR REPO_ID"] if args.output_dir is not None else []), *(f"--{f}" for f in model_only)]
        raise UserInputError(
            f"--space takes its models from --model NAME=FOLDER_OR_REPO and --models_dir DIR, not {', '.join(given)}"
        )
    models = collect_models(args.model, args.models_dir)
    try:
        commit = push_space(
            args.space,
            models,
            private=args.private,
            title=args.title,
            requirement=args.requirement,
            commit_message=args.commit_message,
        )
    except PushError as err:
        raise SystemExit(f"genzoo push: error: {err}") from None
    print(f"pushed the genzoo app to the Space {commit.repo_url} (commit {commit.oid[:8]}); it shows:")
    for m in space_models(models):
        where = f"{m.app_source} in the Space, from {m.source}" if m.folder else m.source
        print(f"  {m.name}: {where}")

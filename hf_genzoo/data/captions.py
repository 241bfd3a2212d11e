"""The `captioned_images` data kind: the `images` kind's arrays, each image's caption, and its token ids.

Captions come from a text column (`caption_column`, default: guessed: `text`, `caption`, `prompt`, ...; an
`imagefolder` with a `metadata.jsonl` of `file_name` and `text` has one), or, for a labelled dataset without one
(`fashion_mnist`, `cifar100`, `digits`), from its class names through `caption_templates`, image i taking template
i mod their number (default `CLASS_TEMPLATES`; `HELD_OUT_TEMPLATES` are kept for evaluation prompts), so the
built-ins train a text-to-image model with no network. Empty captions are counted and reported: they train the
unconditional case, as caption dropout does. They are kept as UTF-8 bytes (`caption_bytes`,
`(N, W)` uint8, zero-padded; `TensorData.captions` decodes them) and, with a `tokenizer` (a local folder or a Hub
id that `transformers.AutoTokenizer` loads), tokenized once to `input_ids` `(N, max_length)` int64, padded and
truncated to `max_length` (default: the tokenizer's `model_max_length`, 77 for CLIP). The cache key holds the
tokenizer's vocabulary, so another tokenizer tokenizes again.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
from datasets import Value

from ..errors import UserInputError
from . import images
from .registry import pick_column
from .sources import Source
from .tensorize import BadFiles, DataKind, decode_captions, register_kind  # noqa: F401  (decode_captions: its old home)

OPTIONS = {**images.OPTIONS, "caption_column": None, "caption_templates": None, "tokenizer": None, "max_length": None}
CAPTION_COLUMN_GUESSES = ("text", "caption", "captions", "prompt", "sentence")
CLASS_TEMPLATES = (
    "a photo of a {label}",
    "a {label}",
    "a picture of a {label}",
    "an image of a {label}",
    "a photograph of the {label}",
    "a small photo of the {label}",
)
# Never in the training captions, but made of their words: a model trained on the captions alone cannot know a word
# it never saw (a learned BPE splits it into pieces it has no meaning for), so the held-out test is new phrasing.
HELD_OUT_TEMPLATES = ("a photograph of a {label}", "a small image of a {label}")
MAX_CAPTION_BYTES = 1024


def templates(option) -> tuple[str, ...]:
    """`caption_templates` as a tuple: one template, several, or the default `CLASS_TEMPLATES`."""
    if option is None:
        return CLASS_TEMPLATES
    found = (option,) if isinstance(option, str) else tuple(option)
    if not found or any("{label}" not in t for t in found):
        raise UserInputError(
            f"caption templates must each hold {{label}}, e.g. 'a photo of a {{label}}'; got {option!r}"
        )
    return found


def check_options(options: dict) -> None:
    if options["max_length"] is not None and not options["tokenizer"]:
        raise UserInputError("max_length is the length of the token ids: it goes with a tokenizer")
    templates(options["caption_templates"])


def token(name: str, split: str, options: dict) -> str | None:
    check_options(options)
    return images.token(name, split, options)


def resolve(name: str, split: str, options: dict) -> Source:
    check_options(options)
    src = images.resolve(name, split, options)
    features = src.dataset.features
    texts = [c for c, f in features.items() if isinstance(f, Value) and f.dtype in ("string", "large_string")]
    column = options["caption_column"]
    if column or texts or not src.label_names:  # a text column; else class names through the templates
        guesses = (*CAPTION_COLUMN_GUESSES, *texts)
        src.other_columns["caption"] = pick_column(name, src, column, (), guesses, "--caption_column")
    return src


def load_tokenizer(name_or_path: str):
    """The tokenizer of a tokenizer folder or repo, or of a pipeline's or `genzoo train clip` output's `tokenizer`
    subfolder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return AutoTokenizer.from_pretrained(name_or_path, subfolder="tokenizer")


def options_key(options: dict) -> list:
    """The options in the cache key, with the tokenizer's vocabulary in place of its name (a folder's content may
    change under the same name)."""
    key = dict(options)
    key["caption_templates"] = list(templates(options["caption_templates"]))  # the default may change
    if options["tokenizer"]:
        vocab = sorted(load_tokenizer(options["tokenizer"]).get_vocab().items())
        key["tokenizer"] = hashlib.sha1(json.dumps(vocab).encode()).hexdigest()
    return sorted(key.items())


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    meta, keep = images.tensorize_rows(src, folder, options, bad_files)
    if "caption" in src.other_columns:
        captions = [str(c) for c in np.asarray(src.dataset[src.other_columns["caption"]], dtype=object)[keep]]
    else:  # class names through the templates, image i taking template i mod their number
        labels, chosen = np.asarray(src.dataset[src.label_column])[keep], templates(options["caption_templates"])
        captions = [chosen[i % len(chosen)].format(label=src.label_names[k].lower()) for i, k in enumerate(labels)]
    empty = sum(1 for c in captions if not c.strip())
    if empty:
        meta["warnings"] = [f"{empty} of {len(captions)} captions are empty: they train the unconditional case"]
    encoded = [c.encode()[:MAX_CAPTION_BYTES] for c in captions]
    width = max(1, max(len(b) for b in encoded))
    caption_bytes = np.zeros((len(encoded), width), dtype=np.uint8)
    for i, b in enumerate(encoded):
        caption_bytes[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    np.save(folder / "caption_bytes.npy", caption_bytes)
    if options["tokenizer"]:
        tokenizer = load_tokenizer(options["tokenizer"])
        length = options["max_length"] or tokenizer.model_max_length
        ids = tokenizer(captions, padding="max_length", max_length=length, truncation=True)["input_ids"]
        np.save(folder / "input_ids.npy", np.asarray(ids, dtype=np.int64))
    return meta


CAPTIONED_IMAGES = register_kind(DataKind("captioned_images", OPTIONS, resolve, tensorize, token, options_key))

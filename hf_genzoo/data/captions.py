"""The `captioned_images` data kind: the `images` kind's arrays, each image's caption, and its token ids.

Captions come from a text column (`caption_column`, default: guessed: `text`, `caption`, `prompt`, ...), or, for a
labelled dataset without one, from its class names through `caption_template` (e.g. `"a photo of a {label}"`, so
the built-ins train a text-to-image model with no network). They are kept as UTF-8 bytes (`caption_bytes`,
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
from .tensorize import BadFiles, DataKind, register_kind

OPTIONS = {**images.OPTIONS, "caption_column": None, "caption_template": None, "tokenizer": None, "max_length": None}
CAPTION_COLUMN_GUESSES = ("text", "caption", "captions", "prompt", "sentence")
MAX_CAPTION_BYTES = 1024


def check_options(options: dict) -> None:
    if options["max_length"] is not None and not options["tokenizer"]:
        raise UserInputError("max_length is the length of the token ids: it goes with a tokenizer")


def token(name: str, split: str, options: dict) -> str | None:
    check_options(options)
    return images.token(name, split, options)


def resolve(name: str, split: str, options: dict) -> Source:
    check_options(options)
    src = images.resolve(name, split, options)
    texts = [
        c for c, f in src.dataset.features.items() if isinstance(f, Value) and f.dtype in ("string", "large_string")
    ]
    if options["caption_column"] or not options["caption_template"] or not src.label_names:
        column = options["caption_column"]
        src.other_columns["caption"] = pick_column(
            name, src, column, (), (*CAPTION_COLUMN_GUESSES, *texts), "--caption_column"
        )
    return src


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def options_key(options: dict) -> list:
    """The options in the cache key, with the tokenizer's vocabulary in place of its name (a folder's content may
    change under the same name)."""
    key = dict(options)
    if options["tokenizer"]:
        vocab = sorted(load_tokenizer(options["tokenizer"]).get_vocab().items())
        key["tokenizer"] = hashlib.sha1(json.dumps(vocab).encode()).hexdigest()
    return sorted(key.items())


def tensorize(src: Source, folder: Path, options: dict, bad_files: BadFiles) -> dict:
    meta, keep = images.tensorize_rows(src, folder, options, bad_files)
    if "caption" in src.other_columns:
        captions = [str(c) for c in np.asarray(src.dataset[src.other_columns["caption"]], dtype=object)[keep]]
    else:  # class names through the template
        labels = np.asarray(src.dataset[src.label_column])[keep]
        captions = [options["caption_template"].format(label=src.label_names[k]) for k in labels]
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


def decode_captions(caption_bytes: np.ndarray) -> list[str]:
    """`(N, W)` zero-padded UTF-8 bytes -> the N captions."""
    return [bytes(row).rstrip(b"\0").decode(errors="replace") for row in np.asarray(caption_bytes)]


CAPTIONED_IMAGES = register_kind(DataKind("captioned_images", OPTIONS, resolve, tensorize, token, options_key))

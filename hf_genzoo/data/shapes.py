"""`shapes`: an embedded synthetic set of captioned images (32x32 RGB), made in-process, no network.

Each image holds one or two objects on black; the caption names the first object's size, colour, shape and
position, and the second object's colour and shape: "a small red circle on the left", "a large blue square at the
top and a yellow triangle". A fixed list of (colour, shape) pairs never appears in the training split, and the test
split is made of them only, so that a text-to-image model can be asked for combinations it never saw (held-out
compositional generalization, as in the CLEVR-style probes of text-to-image work). The columns `colour` and
`shape` label the first object, for the benchmarks' attribute classifiers.
"""

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pyarrow as pa
from datasets import Array3D, ClassLabel, Dataset, Features, Value

from ..compat import numpy_to_arrow_lists
from ..errors import UserInputError
from .sources import BUILTIN, Builtin, Source

SIDE = 32
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (60, 90, 240), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 5, "large": 8}  # half the object's width, in pixels
POSITIONS = {"on the left": (9, 16), "on the right": (23, 16), "at the top": (16, 9), "at the bottom": (16, 23)}
OPPOSITE = dict(zip(POSITIONS, ["on the right", "on the left", "at the bottom", "at the top"], strict=True))
HELD_OUT = (("red", "triangle"), ("green", "circle"), ("blue", "square"))  # never in the training split
SPLIT_SIZES = {"train": 6000, "test": 600}
SECOND_OBJECT = 0.3  # the share of images with a second object


def _draw(draw: PIL.ImageDraw.ImageDraw, shape: str, colour: str, half: int, centre: tuple[int, int]) -> None:
    x, y = centre
    box = (x - half, y - half, x + half, y + half)
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(x, y - half), (x - half, y + half), (x + half, y + half)], fill=fill)


def make_shapes(split: str, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, list[str], list[int], list[int]]:
    """`n` images `(n, 32, 32, 3)` uint8 of `split` with their captions and the first object's colour and shape ids."""
    if split not in SPLIT_SIZES:
        raise UserInputError(f"shapes has the splits {list(SPLIT_SIZES)}, not {split!r}")
    rng = np.random.default_rng([seed, list(SPLIT_SIZES).index(split)])
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    pairs = [p for p in pairs if (p in HELD_OUT) == (split == "test")]
    seen = [p for p in [(c, s) for c in COLOURS for s in SHAPES] if p not in HELD_OUT]
    images = np.zeros((n or SPLIT_SIZES[split], SIDE, SIDE, 3), dtype=np.uint8)
    captions, colours, shapes = [], [], []
    for i in range(len(images)):
        canvas = PIL.Image.new("RGB", (SIDE, SIDE))
        draw = PIL.ImageDraw.Draw(canvas)
        colour, shape = pairs[rng.integers(len(pairs))]
        size, position = rng.choice(list(SIZES)), rng.choice(list(POSITIONS))
        _draw(draw, shape, colour, SIZES[size], POSITIONS[position])
        caption = f"a {size} {colour} {shape} {position}"
        if rng.random() < SECOND_OBJECT:
            colour2, shape2 = seen[rng.integers(len(seen))]
            _draw(draw, shape2, colour2, SIZES[rng.choice(list(SIZES))], POSITIONS[OPPOSITE[position]])
            caption += f" and a {colour2} {shape2}"
        images[i] = np.asarray(canvas)
        captions.append(caption)
        colours.append(list(COLOURS).index(colour))
        shapes.append(SHAPES.index(shape))
    return images, captions, colours, shapes


def load_shapes_split(split: str) -> Source:
    images, captions, colours, shapes = make_shapes(split)
    features = Features(
        {
            "image": Array3D((SIDE, SIDE, 3), "uint8"),
            "text": Value("string"),
            "colour": ClassLabel(names=list(COLOURS)),
            "shape": ClassLabel(names=list(SHAPES)),
        }
    )
    table = pa.table(
        {
            "image": numpy_to_arrow_lists(images),
            "text": pa.array(captions),
            "colour": pa.array(np.asarray(colours, dtype=np.int64)),
            "shape": pa.array(np.asarray(shapes, dtype=np.int64)),
        }
    )
    dataset = Dataset(table.cast(features.arrow_schema))
    return Source(dataset, "image", None, cache_token=f"shapes-v1-{split}")


BUILTIN["shapes"] = Builtin(
    load_shapes_split,
    "32x32 RGB coloured shapes with captions, made in-process; held-out colour-shape pairs in the test split",
    lambda split: f"shapes-v1-{split}",
)

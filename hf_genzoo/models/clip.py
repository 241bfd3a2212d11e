"""A small CLIP: the text encoder of latent diffusion, and the judge of image-text agreement (CLIP score).

References:
    - Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021,
      arXiv:2103.00020 (a text and an image tower trained with a symmetric contrastive loss).
    - Sennrich, Haddow & Birch, "Neural Machine Translation of Rare Words with Subword Units", ACL 2016
      (byte-pair encoding: merges learned from the corpus).
    - Rombach et al. 2022, arXiv:2112.10752 (the text tower's hidden states condition the UNet by cross-attention).

The models are transformers' own (`CLIPModel`, `CLIPTextModel`, `CLIPTokenizer`); this file sizes them for
small images and short captions, and learns the tokenizer's vocabulary and merges from the captions with the
`tokenizers` library's BPE trainer (lower-cased words, "</w>" marking a word's end, as CLIP's tokenizer has them).
"""

import json

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import CLIPConfig, CLIPModel, CLIPTextModel, CLIPTokenizer

from ..errors import UserInputError

START, END = "<|startoftext|>", "<|endoftext|>"  # CLIP's special tokens; the end token also pads
ALPHABET = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-/()&+")  # so that any plain ASCII prompt tokenizes


def train_clip_tokenizer(captions, vocab_size: int = 1024, max_length: int = 32) -> CLIPTokenizer:
    r"""
    A `CLIPTokenizer` whose vocabulary and merges are learned from `captions` by byte-pair encoding.

    Args:
        captions (`Iterable[str]`): the training captions.
        vocab_size (`int`, *optional*, defaults to 1024): the most tokens to learn (fewer when the captions are
            simple: the BPE trainer stops when no pair occurs twice).
        max_length (`int`, *optional*, defaults to 32): the tokenizer's `model_max_length` (CLIP's is 77).
    """
    bpe = Tokenizer(models.BPE(unk_token=END, end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[START, END],
        initial_alphabet=ALPHABET,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator(captions, trainer)
    vocab = bpe.get_vocab()
    for char in ALPHABET:  # every character also as a one-letter word, as CLIP's byte vocabulary has them
        vocab.setdefault(char + "</w>", len(vocab))
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]
    ]
    return CLIPTokenizer(
        vocab=dict(sorted(vocab.items(), key=lambda kv: kv[1])), merges=merges, model_max_length=max_length
    )


def save_clip_tokenizer(tokenizer: CLIPTokenizer, folder) -> None:
    """`save_pretrained`, plus the vocabulary and merges as `vocab.json` and `merges.txt`, the files CLIP's tokenizer
    has on the Hub, which older transformers read (transformers 5 writes only `tokenizer.json`)."""
    from pathlib import Path

    folder = Path(folder)
    tokenizer.save_pretrained(folder)
    model = json.loads((folder / "tokenizer.json").read_text())["model"]
    vocab = dict(sorted(model["vocab"].items(), key=lambda kv: kv[1]))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in merges))


def small_clip(
    *,
    tokenizer: CLIPTokenizer,
    image_size: int,
    num_channels: int,
    hidden_size: int = 128,
    intermediate_size: int = 512,
    num_hidden_layers: int = 4,
    num_attention_heads: int = 4,
    projection_dim: int = 128,
    patch_size: int = 4,
) -> CLIPModel:
    r"""
    A `CLIPModel` for `image_size` images of `num_channels` channels and `tokenizer`'s captions; both towers of the
    same width and depth.

    Args:
        tokenizer (`CLIPTokenizer`): its vocabulary size, special tokens and `model_max_length` size the text tower.
        image_size, num_channels (`int`): the images of the vision tower, cut into `patch_size` patches.
        hidden_size, intermediate_size, num_hidden_layers, num_attention_heads (`int`, *optional*): each tower's
            transformer (defaults: 128, 512, 4, 4; openai/clip-vit-base-patch32 has 512, 2048, 12, 8 for text).
        projection_dim (`int`, *optional*, defaults to 128): the shared embedding space.
        patch_size (`int`, *optional*, defaults to 4): the vision tower's patches (8x8 of them for 32x32 images).
    """
    if image_size % patch_size:
        raise UserInputError(f"patch_size {patch_size} does not divide the image side {image_size}")
    if hidden_size % num_attention_heads:
        raise UserInputError(f"num_attention_heads {num_attention_heads} does not divide hidden_size {hidden_size}")
    tower = dict(
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        projection_dim=projection_dim,
    )
    text = dict(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,  # the text embedding is taken at the first end token
        pad_token_id=tokenizer.pad_token_id,
        **tower,
    )
    vision = dict(image_size=image_size, patch_size=patch_size, num_channels=num_channels, **tower)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim))


def text_encoder_of(clip: CLIPModel) -> CLIPTextModel:
    """The text tower of `clip` as a `CLIPTextModel`, the `text_encoder` of a Stable Diffusion pipeline."""
    encoder = CLIPTextModel(clip.config.text_config)
    encoder.load_state_dict(clip.text_model.state_dict())
    return encoder.to(clip.device, clip.dtype)

"""Objective of the `clip` family: a small CLIP and its tokenizer, learned from captioned images.

Radford et al. 2021 (arXiv:2103.00020, Fig. 3) train a text and an image tower so that matching pairs score
higher than every other pairing in the batch. Here:
    1. before the loop (`prepare`), the tokenizer's BPE vocabulary and merges are learned from the training split's
       captions (`hf_genzoo.models.clip.train_clip_tokenizer`) and saved in `OUTPUT/tokenizer`; the data layer
       then tokenizes the captions once, with the images (the `captioned_images` kind with that tokenizer);
    2. loss per batch: transformers' own `CLIPModel(..., return_loss=True).loss`, the cross-entropy of the scaled
       image-text similarity matrix in both directions, with the matching pairs on its diagonal.
Images enter in [-1, 1]. Metrics on the held-out split: the same loss, image-to-text and text-to-image top-1
retrieval within each batch, and with labelled data the zero-shot accuracy: the share of images whose nearest class
prompt (a template never used in the training captions) names their class.
"""

from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import CLIPTokenizer

from hf_genzoo.models.clip import save_clip_tokenizer, small_clip, train_clip_tokenizer
from hf_genzoo.pipelines.clip import CLIPPipeline

from ..data import TensorData, load_data, to_unit_range
from ..data.captions import HELD_OUT_TEMPLATES, decode_captions
from ..errors import UserInputError
from .config import TrainConfig
from .objective import Objective, build_model

TOKENIZER = "tokenizer"  # the learned tokenizer's folder in the output directory
VOCAB_SIZE, MAX_LENGTH = 1024, 32  # ample for templated and synthetic captions; CLIP's own: 49,408 and 77


def caption_options(cfg: TrainConfig) -> dict:
    """The `captioned_images` options that the families on captioned data take from the command line."""
    return {
        "resolution": cfg.resolution,
        "channels": cfg.channels,
        "image_column": cfg.image_column,
        "label_column": cfg.label_column,
        "caption_column": cfg.caption_column,
    }


class CLIPObjective(Objective):
    """Trains a small `CLIPModel` with its contrastive loss; see the module docstring."""

    recipe = {
        "resolution": 32,  # the images of the text-to-image family
        "channels": 3,
        "epochs": 10,
        "batch_size": 128,  # the contrastive loss wants many negatives; 128 keeps a CPU step affordable
        "learning_rate": 5e-4,  # Radford et al. 2021 (table 20): 5e-4 for their smaller models, with warm-up, cosine
        "lr_scheduler": "cosine",
        "lr_warmup_steps": 100,
        "weight_decay": 0.1,
        "mixed_precision": "auto",
    }

    @classmethod
    def prepare(cls, cfg: TrainConfig) -> TrainConfig:
        """Learn the tokenizer from the training captions, once (a resumed run keeps the one it trained with)."""
        folder = Path(cfg.output_dir) / TOKENIZER
        if not (folder / "tokenizer_config.json").exists():
            data = load_data("captioned_images", cfg.dataset, cfg.train_split, **caption_options(cfg))
            save_clip_tokenizer(train_clip_tokenizer(data.captions, VOCAB_SIZE, MAX_LENGTH), folder)
        return cfg

    @classmethod
    def data_options(cls, cfg: TrainConfig) -> dict:
        return {**caption_options(cfg), "tokenizer": str(Path(cfg.output_dir) / TOKENIZER)}

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(f"the clip objective takes no --noise (got {cfg.noise!r})")
        self.tokenizer = CLIPTokenizer.from_pretrained(data.options["tokenizer"])
        self.clip = build_model(
            small_clip, cfg, tokenizer=self.tokenizer, image_size=data.resolution, num_channels=data.channels
        )
        self.models = {"clip": self.clip}
        self.label_names = data.label_names

    def losses(self, batch, step):
        x = to_unit_range(batch["pixel_values"]) * 2 - 1  # (B, C, H, W) in [-1, 1]
        yield "clip", self.models["clip"](input_ids=batch["input_ids"], pixel_values=x, return_loss=True).loss

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        clip = accelerator.unwrap_model(self.models["clip"])
        prompts = None
        if self.label_names:  # zero-shot: the nearest class prompt, in a template the captions never used
            texts = [HELD_OUT_TEMPLATES[0].format(label=name.lower()) for name in self.label_names]
            ids = self.tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt").input_ids
            prompts = torch.nn.functional.normalize(
                _features(clip.get_text_features(ids.to(accelerator.device))), dim=-1
            )
        sums, n = dict.fromkeys(("loss", "image_to_text", "text_to_image", "zero_shot_accuracy"), 0.0), 0
        for batch in loader:
            x = to_unit_range(batch["pixel_values"]) * 2 - 1
            out = self.models["clip"](input_ids=batch["input_ids"], pixel_values=x, return_loss=True)
            diagonal = torch.arange(len(x), device=x.device)
            hits = [out.logits_per_image.argmax(1) == diagonal, out.logits_per_text.argmax(1) == diagonal]
            scores = [out.loss.expand(len(x)), *hits]
            if prompts is not None:
                image = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
                scores.append((image @ prompts.T).argmax(1) == batch["labels"])
            scores = accelerator.gather_for_metrics([s.float() for s in scores])
            for key, s in zip(sums, scores, strict=False):
                sums[key] += s.sum().item()
            n += len(scores[0])
        metrics = {k: v / n for k, v in sums.items()}
        if prompts is None:
            metrics.pop("zero_shot_accuracy")
        return metrics

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        """Held-out images over, for each one's caption, the image of the batch that CLIP matches to it."""
        x = to_unit_range(batch["pixel_values"])  # (N, C, H, W)
        out = self.models["clip"](input_ids=batch["input_ids"], pixel_values=2 * x - 1)
        return torch.stack([x, x[out.logits_per_text.argmax(1)]])

    def pipeline(self, accelerator: Accelerator) -> CLIPPipeline:
        return CLIPPipeline(clip=accelerator.unwrap_model(self.models["clip"]).eval(), tokenizer=self.tokenizer)

    def card_info(self):
        c = self.clip.config
        return {
            "tags": ["clip", "contrastive", "text-encoder"],
            "description": f"CLIP ({c.text_config.num_hidden_layers}-layer towers of width "
            f"{c.text_config.hidden_size}, a {len(self.tokenizer)}-token BPE vocabulary learned from the captions)",
            "main_metric": "loss",
        }


def _features(features) -> torch.Tensor:
    return features if isinstance(features, torch.Tensor) else features.pooler_output


def evaluate_pipeline(pipe: CLIPPipeline, loader, accelerator: Accelerator, noise: str | None) -> dict:
    """`genzoo evaluate`: the CLIP score of held-out images with their own captions, and with shuffled ones (the
    score of a pairing that agrees only by chance)."""
    if noise:
        raise UserInputError("`genzoo evaluate --noise` is for the denoising autoencoders")
    pipe.to(accelerator.device)
    matched, shuffled, n = 0.0, 0.0, 0
    for batch in loader:
        images, captions = to_unit_range(batch["pixel_values"]), decode_captions(batch["caption_bytes"].cpu().numpy())
        matched += pipe(images, captions).clip_score.sum().item()
        shuffled += pipe(images, captions[1:] + captions[:1]).clip_score.sum().item()
        n += len(images)
    return {"clip_score": matched / n, "clip_score_shuffled_captions": shuffled / n}

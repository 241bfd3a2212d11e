"""How well a text-to-image model's samples follow their prompts, measured by a classifier and by a CLIP.

    prompt accuracy   the share of images drawn for "a photograph of a {class}" that the dataset's classifier
                      (`genzoo train classifier`, trained on real images) assigns to that class; chance is
                      1 / classes. The prompts use templates the training captions never used
                      (`HELD_OUT_TEMPLATES`), so a model is asked in words it was not trained on.
    CLIP score        100 * max(cos(image, text), 0) in a CLIP's embedding space (Hessel et al. 2021,
                      arXiv:2104.08718), averaged over the images and their prompts.

Used by `genzoo evaluate --classifier` for a text-to-image model and by benchmarks/text2image.py.
"""

import torch

from .data.captions import HELD_OUT_TEMPLATES
from .samplers import DEFAULT_STEPS, use_sampler

SCHEDULER = "dpmsolver++"  # 20 steps of DPM-Solver++ for every measured sample


def class_prompts(label_names: list[str], per_class: int) -> tuple[list[str], torch.Tensor]:
    """`per_class` prompts for every class, the held-out templates in turn, and the class id of each `(N,)`."""
    prompts, targets = [], []
    for k, name in enumerate(label_names):
        for i in range(per_class):
            prompts.append(HELD_OUT_TEMPLATES[i % len(HELD_OUT_TEMPLATES)].format(label=name.lower()))
            targets.append(k)
    return prompts, torch.tensor(targets)


@torch.no_grad()
def draw_for_prompts(
    pipe, prompts: list[str], guidance_scale: float, seed: int = 0, batch_size: int = 128, steps: int | None = None
) -> torch.Tensor:
    """One image per prompt `(N, C, H, W)` in [0, 1] from a Stable Diffusion pipeline, DPM-Solver++ in `steps` (20)
    steps, `batch_size` prompts per call, all noise from one generator seeded `seed`."""
    use_sampler(pipe, SCHEDULER)
    pipe.set_progress_bar_config(disable=True)
    g, steps = torch.Generator().manual_seed(seed), steps or DEFAULT_STEPS[SCHEDULER]
    out = []
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        images = pipe(chunk, num_inference_steps=steps, guidance_scale=guidance_scale, generator=g, output_type="pt")
        out.append(images.images.float().cpu())
    return torch.cat(out)


def prompt_accuracy(classifier, images: torch.Tensor, targets: torch.Tensor) -> float:
    """The share of `images` that `classifier` (a `ClassifierPipeline`) labels with their prompt's class."""
    return (classifier(images).labels.cpu() == targets).float().mean().item()


def prompt_scores(pipe, classifier, num_samples: int, seed: int = 0, batch_size: int = 128) -> dict[str, float]:
    """`genzoo evaluate --classifier` for a text-to-image model: prompt accuracy at guidance 1, 2, 4 and 7.5 over
    about `num_samples` images (an equal share per class of the classifier)."""
    config = classifier.classifier.config
    names = config.class_names or [str(k) for k in range(config.num_classes)]
    prompts, targets = class_prompts(names, max(1, num_samples // len(names)))
    scores = {}
    for guidance in (1.0, 2.0, 4.0, 7.5):
        images = draw_for_prompts(pipe, prompts, guidance, seed, batch_size)
        scores[f"prompt_accuracy_guidance_{guidance:g}"] = prompt_accuracy(classifier, images, targets)
    return scores

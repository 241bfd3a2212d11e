"""Text-to-image latent diffusion (Rombach et al. 2022) on the KL autoencoder and the CLIP text encoder:
objective `Text2ImageObjective`, diffusers' `StableDiffusionPipeline`."""

from diffusers import StableDiffusionPipeline

from ..data.captions import HELD_OUT_TEMPLATES
from ..family import Family, SampleOption, Tiny
from ..models.unet import TINY_LATENT_UNET, as_model_config
from ..prompting import prompt_scores
from ..registry import register_family
from ..samplers import DEFAULT_STEPS, SAMPLERS, use_sampler
from ..training.text2image import DEFAULT_GUIDANCE, DEFAULT_SCHEDULER, Text2ImageObjective, sample


def app_panels() -> tuple:
    from ..app.panels import TextToImage  # lazy: loading a model does not import the app

    return (TextToImage(),)


def trilemma_rows(pipe, context) -> list:
    """Samples for class prompts (a template the training captions never used), every class in turn, at the
    default guidance; without class names, for the empty prompt."""
    from ..trilemma import Row  # lazy: loading a model does not import the benchmark

    names = context.label_names or [""]
    prompts = [HELD_OUT_TEMPLATES[0].format(label=n.lower()) if n else "" for n in names]

    def draw(n, g):
        use_sampler(pipe, DEFAULT_SCHEDULER)
        pipe.set_progress_bar_config(disable=True)
        batch = [prompts[i % len(prompts)] for i in range(n)]
        return pipe(
            batch, num_inference_steps=20, guidance_scale=DEFAULT_GUIDANCE, generator=g, output_type="pt"
        ).images

    return [Row(f"text2image (class prompts, guidance {DEFAULT_GUIDANCE:g})", draw, 2 * 20)]


register_family(
    Family(
        "text2image",
        Text2ImageObjective,
        StableDiffusionPipeline,
        Tiny(as_model_config(TINY_LATENT_UNET), steps=4),
        data_kind="captioned_latents",
        data_options=lambda pipe: {  # the folder it was loaded from holds the VAE and the tokenizer
            "resolution": pipe.vae.config.sample_size,
            "channels": pipe.vae.config.in_channels,
            "vae": pipe.name_or_path,
            "tokenizer": pipe.name_or_path,
        },
        pipeline_tag="text-to-image",
        sample=sample,
        sample_options={
            "prompt": SampleOption(str, "the text to draw (default: the empty prompt, the unconditional model)"),
            "guidance_scale": SampleOption(float, f"classifier-free guidance (default: {DEFAULT_GUIDANCE:g}; 1: none)"),
            "scheduler": SampleOption(
                str, "the sampler, only the scheduler swapped (default: dpmsolver++)", tuple(SAMPLERS)
            ),
            "steps": SampleOption(int, "sampling steps (default: ddpm 1000, ddim 50, dpmsolver++ 20)"),
        },
        call_arguments=lambda n: {"prompt": ["a picture"] * n},
        nfe=lambda pipe, scheduler=None, steps=None, guidance_scale=None, prompt=None: (
            (steps or DEFAULT_STEPS[scheduler or DEFAULT_SCHEDULER]) * (1 if guidance_scale == 1 else 2)
        ),
        score_samples=prompt_scores,
        trilemma_rows=trilemma_rows,
        app=app_panels,
    )
)

"""``text2text-generation``, ``summarization`` and ``translation`` (``translation_xx_to_yy``) on encoder-decoders.

transformers v5 dropped these pipelines; MassiveText keeps them with v4.57's outputs (``[{"generated_text"}]``,
``[{"summary_text"}]``, ``[{"translation_text"}]``), defaults (256 new tokens and 4 beams unless the model says
otherwise) and T5 prefixes from ``task_specific_params`` ("translate English to French: ").
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from massivetext.errors import ConfigError
from massivetext.pipelines import generation_args
from massivetext.pipelines.base import Feature, Pipeline


class Text2TextGenerationPipeline(Pipeline):
    task = "text2text-generation"
    heads = ("T5ForConditionalGeneration", "MarianMTModel")
    auto_class = "AutoModelForSeq2SeqLM"
    return_name = "generated"
    defaults: dict[str, Any] = {"max_new_tokens": 256, "num_beams": 4}

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any):
        super().__init__(model, tokenizer, **kwargs)
        self.config_task = self.resolve_task()
        # the prefix and task parameters are read once, as transformers does at construction
        self.gen_base, self.prefix = generation_args.resolve(
            self.model, self.tokenizer, self.defaults, self.config_task, {}
        )

    def resolve_task(self) -> str:
        return self.task_name

    def sanitize(
        self,
        return_tensors: bool = False,
        return_text: bool = True,
        clean_up_tokenization_spaces: bool = False,
        truncation: bool | None = None,
        src_lang: str | None = None,
        tgt_lang: str | None = None,
        stop: Any = None,
        **generate: Any,
    ) -> dict[str, Any]:
        _, _ = src_lang, tgt_lang  # language codes matter only to multilingual tokenizers (none here yet)
        if stop is not None:
            generate["stop_strings"] = stop
        gen, _ = generation_args.resolve(self.model, self.tokenizer, self.defaults, self.config_task, generate)
        if gen.get("stop_strings"):
            gen["tokenizer"] = self.tokenizer
        return {
            "gen": gen,
            "tensors": bool(return_tensors),
            "clean": bool(clean_up_tokenization_spaces),
            "truncation": truncation,
        }

    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, list) and all(isinstance(x, str) for x in inputs) and all(len(r) == 1 for r in result):
            return [r[0] for r in result]  # transformers unwraps one sequence per input
        return result

    def preprocess(self, items: list[str], params: dict[str, Any]) -> list[list[Feature]]:
        texts = [self.prefix + t for t in items]
        encs = self.encode_limited(texts, what="input")
        return [[Feature(e.ids)] for e in encs]

    def forward(self, batch, feats, params) -> list[Any]:
        batch.pop("token_type_ids", None)
        gen = generation_args.min_new_tokens(params["gen"], 1)
        out = self.model.generate(batch["input_ids"], batch["attention_mask"], **gen).cpu()
        n = out.shape[0] // len(feats)
        return [out[r * n : (r + 1) * n].tolist() for r in range(len(feats))]

    def postprocess(self, item, feats, outputs, params) -> list[dict[str, Any]]:
        if params["tensors"]:
            return [{f"{self.return_name}_token_ids": seq} for seq in outputs[0]]
        return [
            {
                f"{self.return_name}_text": self.tokenizer.decode(
                    seq, skip_special_tokens=True, clean_up_tokenization_spaces=params["clean"]
                )
            }
            for seq in outputs[0]
        ]


class SummarizationPipeline(Text2TextGenerationPipeline):
    task = "summarization"
    return_name = "summary"

    def preprocess(self, items, params):
        feats = super().preprocess(items, params)
        max_length = params["gen"].get("max_length")
        for f in feats:
            n = len(f[0].input_ids)
            if max_length is not None and "max_new_tokens" not in params["gen"] and max_length < n:
                warnings.warn(
                    f"summarization: max_length={max_length} but the input has {n} tokens; a summary is usually "
                    "shorter than its input, consider a smaller max_length",
                    stacklevel=3,
                )
        return feats


class TranslationPipeline(Text2TextGenerationPipeline):
    task = "translation"
    return_name = "translation"

    def resolve_task(self) -> str:
        """``translation`` on a T5 picks its first ``translation_xx_to_yy`` parameters (and prefix), as
        transformers does; ``translation_xx_to_yy`` is taken as given."""
        name = self.task_name
        if name == "translation":
            for key in self.model.config.get("task_specific_params") or {}:
                if key.startswith("translation"):
                    warnings.warn(
                        f'"translation" task was used, instead of "translation_XX_to_YY", using "{key}"', stacklevel=4
                    )
                    return key
        elif not re.match(r"^translation_[\w-]+_to_[\w-]+$", name):
            raise ConfigError(f"translation task names look like translation_en_to_fr, not {name!r}")
        return name

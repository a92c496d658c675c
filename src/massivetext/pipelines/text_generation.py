"""``text-generation``: continue a prompt, or answer a chat (messages in, messages out), on a causal LM.

Outputs are transformers v4.57's: ``[{"generated_text": prompt + continuation}]`` per input (``return_full_text=
False``: the continuation only), one dict per ``num_return_sequences``; a chat (a list of ``{"role", "content"}``)
is rendered by the tokenizer's chat template and comes back as the messages plus the assistant's reply.
Defaults as transformers: 256 new tokens, sampling at temperature 0.7, unless the model's generation config says
otherwise. Batches are left-padded so every row's new tokens start at the same step.
``handle_long_generation="hole"`` (transformers 4.57's): a prompt whose tokens plus the new ones exceed the
tokenizer's ``model_max_length`` keeps only its last ``model_max_length - max_new_tokens`` tokens.
"""

from __future__ import annotations

from typing import Any

from massivetext.errors import BadInputError, ConfigError
from massivetext.pipelines import generation_args
from massivetext.pipelines.base import Feature, Pipeline, check_text


def is_chat(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(m, dict) for m in x)


class TextGenerationPipeline(Pipeline):
    task = "text-generation"
    heads = ("GPTForCausalLM", "LSTMForCausalLM")
    auto_class = "AutoModelForCausalLM"
    defaults: dict[str, Any] = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}

    def pad_side(self) -> str:
        return "left"

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, str) or is_chat(inputs)

    def sanitize(
        self,
        return_full_text: bool | None = None,
        return_tensors: bool = False,
        return_text: bool | None = None,
        clean_up_tokenization_spaces: bool = True,
        prefix: str | None = None,
        stop: Any = None,
        continue_final_message: bool | None = None,
        skip_special_tokens: bool = True,
        add_special_tokens: bool = False,
        handle_long_generation: str | None = None,
        **generate: Any,
    ) -> dict[str, Any]:
        if return_full_text is not None and return_tensors:
            raise ConfigError("return_full_text and return_tensors cannot be used together")
        hole = None
        if handle_long_generation is not None:
            if handle_long_generation != "hole":
                raise ConfigError(
                    f"handle_long_generation={handle_long_generation!r} is not a valid value (expected None or 'hole')"
                )
            # as 4.57: the user's max_new_tokens, else (max_length, from the call or the model) minus the prompt
            if generate.get("max_new_tokens") is not None:
                hole = ("new", int(generate["max_new_tokens"]))
            else:
                hole = ("length", int(self.model._gen_default("max_length", generate.get("max_length"), 20)))
        if stop is not None:
            generate["stop_strings"] = stop
        gen, model_prefix = generation_args.resolve(self.model, self.tokenizer, self.defaults, self.task_name, generate)
        if gen.get("stop_strings"):
            gen["tokenizer"] = self.tokenizer
        return {
            "gen": gen,
            "full": True if return_full_text is None else bool(return_full_text),
            "tensors": bool(return_tensors),
            "clean": bool(clean_up_tokenization_spaces),
            "prefix": model_prefix if prefix is None else prefix,
            "continue": continue_final_message,
            "skip": bool(skip_special_tokens),
            "specials": bool(add_special_tokens),
            "hole": hole,
        }

    def validate(self, item: Any) -> Any:
        if is_chat(item):
            for m in item:
                if "role" not in m or "content" not in m:
                    raise BadInputError(f"text-generation: a chat message needs 'role' and 'content', got {m!r:.80}")
                if not isinstance(m["content"], str):
                    raise BadInputError("text-generation: a chat message's content must be a string")
            return list(item)
        return check_text(item, "text-generation prompt", allow_empty=True)

    def render(self, item: Any, params: dict[str, Any]) -> str:
        if isinstance(item, str):
            return params["prefix"] + item
        if not hasattr(self.tokenizer, "apply_chat_template"):
            raise ConfigError("text-generation: this tokenizer has no chat template support; pass plain text")
        cont = params["continue"]
        if cont is None:
            cont = item[-1]["role"] == "assistant"
        options: dict[str, Any] = {"tokenize": False, "add_generation_prompt": not cont}
        if cont:
            options["continue_final_message"] = True
        return self.tokenizer.apply_chat_template(item, **options)

    def preprocess(self, items: list[Any], params: dict[str, Any]) -> list[list[Feature]]:
        texts = [self.render(x, params) for x in items]
        # chats are rendered with their special tokens in the text; plain prompts add none (transformers' default)
        enc = self.tokenizer(texts, add_special_tokens=params["specials"])
        feats = []
        for ids in enc["input_ids"]:
            if not ids:
                raise BadInputError("text-generation: an empty prompt (give some text to continue)")
            feats.append([Feature(self.cut_hole(list(ids), params["hole"]))])
        return feats

    def cut_hole(self, ids: list[int], hole: tuple[str, int] | None) -> list[int]:
        """``handle_long_generation="hole"``: keep the prompt's last tokens so that they and the new tokens fit the
        tokenizer's ``model_max_length``."""
        if hole is None:
            return ids
        kind, n = hole
        new = n if kind == "new" else n - len(ids)
        if new < 0:
            raise BadInputError(
                f"text-generation: handle_long_generation='hole' cannot infer the number of new tokens (max_length "
                f"{n} < prompt of {len(ids)} tokens); pass max_new_tokens"
            )
        limit = self.tokenizer.model_max_length
        if len(ids) + new <= limit:
            return ids
        keep = limit - new
        if keep <= 0:
            raise BadInputError(
                f"text-generation: handle_long_generation='hole' cannot fit {new} new tokens in the tokenizer's "
                f"model_max_length of {limit}"
            )
        return ids[-keep:]

    def forward(self, batch, feats, params) -> list[Any]:
        batch.pop("token_type_ids", None)
        T = batch["input_ids"].shape[1]
        gen = generation_args.min_new_tokens(params["gen"], T)
        limit = self.max_len
        new = gen.get("max_new_tokens")
        if limit is not None and new is not None and T + new > limit:
            raise BadInputError(
                f"text-generation: prompt ({T} tokens) + max_new_tokens ({new}) exceed the model's {limit} positions"
            )
        mask = batch["attention_mask"] if not bool(batch["attention_mask"].all()) else None
        out = self.model.generate(batch["input_ids"], mask, **gen).cpu()
        n = out.shape[0] // len(feats)
        return [out[r * n : (r + 1) * n, T:].tolist() for r in range(len(feats))]

    def postprocess(self, item, feats, outputs, params) -> list[dict[str, Any]]:
        prompt = feats[0].input_ids
        records = []
        for new in outputs[0]:
            if params["tensors"]:
                records.append({"generated_token_ids": prompt + new})
                continue
            opts = {"skip_special_tokens": params["skip"], "clean_up_tokenization_spaces": params["clean"]}
            text = self.tokenizer.decode(prompt + new, **opts)
            reply = text[len(self.tokenizer.decode(prompt, **opts)) :]
            if not params["full"]:
                records.append({"generated_text": reply})
            elif isinstance(item, str):
                records.append({"generated_text": item + reply})
            else:
                cont = params["continue"]
                if cont is None:
                    cont = item[-1]["role"] == "assistant"
                if cont:
                    last = item[-1]
                    msgs = item[:-1] + [{"role": last["role"], "content": last["content"] + reply}]
                else:
                    msgs = item + [{"role": "assistant", "content": reply}]
                records.append({"generated_text": msgs})
        return records

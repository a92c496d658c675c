"""``massivetext generate``: continue a prompt with a causal LM, or translate/transform it with a seq2seq model.

    massivetext generate --model DIR --prompt TEXT [--prompt TEXT ...] [--max-new-tokens N] [--temperature T]
                         [--top-k K] [--top-p P] [--num-beams B] [--repetition-penalty R] [--stop STR] [--seed S]

Greedy by default; any of --temperature/--top-k/--top-p (or --sample) turns sampling on. Text streams to stdout as
it is made through ``models.streamers.TextStreamer`` (one prompt at a time; beam search shows its best beam when
done); --no-stream prints each result when done.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from massivetext.errors import ConfigError, MissingFileError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="generate text from a model directory or hub name")
    p.add_argument("--model", "-m", required=True, help="model directory (config.json, model.safetensors, tokenizer)")
    p.add_argument("--prompt", "-p", action="append", default=None, help="prompt text (repeatable)")
    p.add_argument("--prompt-file", help="a file with one prompt per line")
    p.add_argument("--max-new-tokens", "-n", type=int, default=50)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-beams", type=int, default=None)
    p.add_argument("--length-penalty", type=float, default=None)
    p.add_argument("--repetition-penalty", type=float, default=None)
    p.add_argument("--stop", action="append", default=None, help="stop when this string appears (repeatable)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    p.add_argument("--no-stream", action="store_true", help="print each result when done instead of streaming")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from massivetext.models.auto import AutoModel
    from massivetext.models.hub import resolve
    from massivetext.models.streamers import TextStreamer
    from massivetext.pipelines import pipeline
    from massivetext.tokenization.tokenizer import AutoTokenizer

    prompts = _prompts(args)
    if args.max_new_tokens < 1:
        raise ConfigError("--max-new-tokens must be at least 1")
    directory = resolve(args.model)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype) if args.dtype else None
    model = AutoModel.from_pretrained(directory, dtype=dtype, device=device)
    if not getattr(model, "can_generate", False):
        raise ConfigError(f"{args.model}: a {model.config.model_type} {type(model).__name__} does not generate text")
    tok = AutoTokenizer.from_pretrained(directory)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    sample = args.sample or any(v is not None for v in (args.temperature, args.top_k, args.top_p))
    options = dict(
        max_new_tokens=args.max_new_tokens,
        do_sample=sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.num_beams or 1,  # greedy unless asked: the pipelines' own default is 4 beams for seq2seq
        length_penalty=args.length_penalty,
        repetition_penalty=args.repetition_penalty,
    )
    options = {k: v for k, v in options.items() if v is not None}
    if args.stop:
        options["stop"] = args.stop
    enc_dec = model.is_encoder_decoder
    # one implementation of generation for users: the text-generation / text2text-generation pipelines
    pipe = pipeline("text2text-generation" if enc_dec else "text-generation", model=model, tokenizer=tok)
    key = "generated_text"
    for prompt in prompts:
        if args.no_stream:
            print(pipe(prompt, **options)[0][key], flush=True)
        else:
            if not enc_dec:  # a continuation is shown after its prompt
                print(prompt, end="", flush=True)
            streamer = TextStreamer(tok, skip_prompt=True, skip_special_tokens=True)
            pipe(prompt, streamer=streamer, **options)
    return 0


def _prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompt or [])
    if args.prompt_file:
        path = Path(args.prompt_file)
        if not path.is_file():
            raise MissingFileError(f"{path}: no such prompt file")
        prompts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise ConfigError("give a prompt with --prompt TEXT or --prompt-file FILE")
    return prompts

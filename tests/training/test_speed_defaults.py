"""The "auto" speed defaults: bf16 where the hardware has it, compile past the break-even, eager fallback, the log."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import torch
from training_helpers import counting_sequences, tiny_gpt2

from massivetext.errors import ConfigError
from massivetext.training import speed
from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer

CPU = torch.device("cpu")


def mt_gpt(**kw):
    import massivetext as mt

    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=21, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **kw)  # fmt: skip
    torch.manual_seed(0)
    return mt.AutoModelForCausalLM.from_config(cfg)


def test_defaults_are_auto_and_strings_are_read():
    args = TrainingArguments(output_dir="x")
    assert args.bf16 == "auto" and args.torch_compile == "auto"
    args = TrainingArguments(output_dir="x", bf16="True", torch_compile="false")
    assert args.bf16 is True and args.torch_compile is False
    with pytest.raises(ConfigError, match="bf16 must be true, false or 'auto'"):
        TrainingArguments(output_dir="x", bf16="sometimes")
    assert TrainingArguments(output_dir="x", fp16=True).bf16 == "auto"  # auto never conflicts with fp16


@pytest.mark.parametrize(
    "cpuinfo, unit",
    [
        ("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_tile amx_bf16\n", "AMX"),
        ("flags\t\t: fpu avx512f avx512_bf16\n", "AVX-512 BF16"),
        ("Features\t: fp asimd bf16 i8mm\n", "BF16 (Arm)"),
        ("flags\t\t: fpu sse avx2 avx512f avx512bw\n", None),  # AVX-512 without BF16 only emulates bf16
    ],
)
def test_cpu_bf16_unit_from_cpuinfo_flags(monkeypatch, cpuinfo, unit):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert speed.cpu_bf16_unit(cpuinfo) == unit


def test_resolve_bf16_forced_and_auto(monkeypatch):
    assert speed.resolve_bf16(True, CPU) == (True, "bf16 autocast: bf16=True")
    assert speed.resolve_bf16(False, CPU)[0] is False
    monkeypatch.setattr(speed, "cpu_bf16_unit", lambda: None)
    assert speed.resolve_bf16("auto", CPU) == (
        False,
        "fp32: this CPU has no native bf16 unit (AMX / AVX-512 BF16 / Arm BF16)",
    )
    monkeypatch.setattr(speed, "cpu_bf16_unit", lambda: "AMX")
    assert speed.resolve_bf16("auto", CPU) == (True, "bf16 autocast: CPU has AMX")
    assert speed.resolve_bf16("auto", CPU, fp16=True)[0] is False


def test_this_machine_follows_proc_cpuinfo():
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    native = any(f in flags.split() for f in ("amx_bf16", "avx512_bf16", "bf16"))
    assert speed.resolve_bf16("auto", CPU)[0] == native or "AMX" in torch.backends.cpu.get_cpu_capability()


def test_compile_break_even_scales_with_the_work_of_a_step():
    model = mt_gpt()
    bench = speed.BENCH_FLOPS_PER_STEP
    assert speed.break_even_steps(CPU, bench) == 440  # the measured benchmark model, fp32
    assert speed.break_even_steps(CPU, bench, bf16=True) == 400  # and under bf16 autocast
    assert speed.resolve_compile("auto", model, CPU, 441, bench) == (True, "compile: 441 steps > break-even 440")
    assert speed.resolve_compile("auto", model, CPU, 440, bench)[0] is False
    assert speed.resolve_compile("auto", model, CPU, 401, bench, bf16=True)[0] is True
    assert speed.resolve_compile("auto", model, CPU, 400, bench, bf16=True)[0] is False
    assert speed.resolve_compile("auto", model, CPU, 10_000, bench / 1000)[0] is False  # tiny step: never repays
    assert speed.resolve_compile("auto", model, CPU, 2, bench * 1000)[0] is True  # a large model repays at once
    assert speed.resolve_compile("auto", tiny_gpt2(), CPU, 10**9, bench)[0] is False  # transformers' model
    assert speed.resolve_compile(True, torch.nn.Linear(2, 2), CPU, 1, 1.0)[0] is True
    assert speed.resolve_compile(False, model, CPU, 10**9, bench)[0] is False


def test_a_resumed_run_makes_the_choice_of_the_run_it_continues(tmp_path, monkeypatch):
    """Compile is decided on the whole run's length, so resuming 2 steps before the end of a run that compiled
    compiles again (eager and compiled kernels round differently; a resume must stay bit-identical)."""
    wrapped = []

    class Recorded:  # stands in for the compiled module: records the choice without running inductor
        def __init__(self, module):
            wrapped.append(module)
            self.module = module

        def __call__(self, *args, **kwargs):
            return self.module(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.module, name)

    import massivetext.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "CompiledOrEager", Recorded)
    monkeypatch.setattr(speed, "BREAK_EVEN_FLOPS", {("cpu", False): 5 * speed.BENCH_FLOPS_PER_STEP})
    monkeypatch.setattr(Trainer, "_flops_per_token", lambda self, seq: speed.BENCH_FLOPS_PER_STEP / (4 * seq))
    train = datasets.Dataset.from_dict({"input_ids": counting_sequences(16, 12)})
    rows = []
    for resume in (None, str(tmp_path / "checkpoint-6")):
        args = TrainingArguments(output_dir=str(tmp_path), max_steps=8, per_device_train_batch_size=4, save_steps=6,
                                 disable_tqdm=True, use_cpu=True, bf16=False)  # fmt: skip
        model = mt_gpt(bos_token_id=0, eos_token_id=0)  # ids inside the vocabulary: the checkpoint is saved
        Trainer(model, args, train_dataset=train).train(resume_from_checkpoint=resume)
        rows.append([json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()])
    begins = [r for r in rows[1] if r.get("event") == "train_begin"]
    assert [b["step"] for b in begins] == [0, 6]
    assert [b["compile"] for b in begins] == ["compile: 8 steps > break-even 5"] * 2
    assert len(wrapped) == 2


def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch):
    calls = []

    def broken_compile(module):
        def run(*a, **k):
            calls.append(1)
            raise RuntimeError("inductor: no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = torch.nn.Linear(3, 2)
    wrapped = speed.CompiledOrEager(model)
    x = torch.randn(4, 3)
    with pytest.warns(UserWarning, match="torch.compile failed for Linear; training eager"):
        out = wrapped(x)
    torch.testing.assert_close(out, model(x))
    wrapped(x)  # no second try, no second warning
    assert calls == [1] and wrapped.weight is model.weight


def test_compile_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert speed.use_compile_cache() == str(tmp_path / "massivetext" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/mine")
    assert speed.use_compile_cache() == "/mine"


def test_trainer_logs_its_choice_and_keeps_fp32_master_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "cpu_bf16_unit", lambda: "AMX")
    train = datasets.Dataset.from_dict({"input_ids": counting_sequences(8, 12)})
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=4,
                             save_strategy="no", disable_tqdm=True, use_cpu=True)  # fmt: skip
    model = mt_gpt()
    trainer = Trainer(model, args, train_dataset=train)
    trainer.train()
    begin = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()][0]
    assert begin["event"] == "train_begin"
    assert begin["precision"] == "bf16 autocast: CPU has AMX"
    assert begin["compile"].startswith("eager: 3 steps <= compile break-even")  # a tiny model never repays it
    assert all(p.dtype == torch.float32 for p in model.parameters())
    states = [s for s in trainer.optimizer.state.values()]
    assert states and all(s["exp_avg"].dtype == torch.float32 for s in states)

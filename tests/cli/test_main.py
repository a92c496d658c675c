"""The command: help, version, and one clear line with exit code 2 for user errors."""

import subprocess
import sys

from massivetext.cli.main import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "massivetext.cli.main", *args], capture_output=True, text=True)


def test_help_and_version():
    out = run("--help")
    assert out.returncode == 0 and "corpus" in out.stdout
    assert run("--version").stdout.startswith("massivetext ")


def test_bad_argument_is_one_line_exit_2():
    out = run("corpus", "nosuchcorpus")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "nosuchcorpus" in out.stderr


def test_corpus_verb(tmp_path, capsys):
    assert main(["corpus", "stdlib", "--output", str(tmp_path / "c.jsonl"), "--max-docs", "50"]) == 0
    assert "50 documents" in capsys.readouterr().out


def test_curate_and_dedup_strict_stop_at_the_bad_record(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "one document"}\n{"id": "b", "text": \n')
    for verb in ("curate", "dedup"):
        out = run(verb, str(data), "--output", str(tmp_path / verb), "--workers", "1", "--strict", "--quiet")
        assert out.returncode == 2 and "in.jsonl:2" in out.stderr and "Traceback" not in out.stderr, out.stderr

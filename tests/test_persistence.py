"""Persistence: pickle and joblib round trips, and skgate.save / skgate.load (no pickle)."""

import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skgate
from skgate import Expert, MixtureOfExperts, UntrustedTypeError
from skgate.datasets import load_mnist_sample
from skgate.experts import image_transform, mnist_transform
from skgate.gates import (
    AugmentedGate,
    FastRouter,
    FloorGate,
    NaiveConcatGate,
    PANGate,
    SoftMoE,
    UniversalGate,
)
from skgate.models import MLP, LeNet5, SmallResNet, ThumbnailCNN
from skgate.utils._testing import SizedExpert, tiny_expert

# tiny_expert builds a SizedExpert, a test class outside the allowlist: trusted explicitly
TRUSTED = [SizedExpert]

GATES = {
    "naive": lambda: NaiveConcatGate(),
    "augmented": lambda: AugmentedGate(augmentations=[("gaussian_noise", {"std": 0.1})],
                                       random_state=0),
    "pan": lambda: PANGate(features="logits", hidden_layer_sizes=(4,), max_epochs=2,
                           random_state=0),
    "pan-voting": lambda: PANGate(features="logits", hidden_layer_sizes=(4,), max_epochs=2,
                                  n_networks=2, random_state=0),
    "universal": lambda: UniversalGate(random_state=0),
    "universal-network": lambda: UniversalGate("linear", calibration="network", mixing="soft",
                                               max_iter=20, random_state=0),
    "universal-pretrained": lambda: UniversalGate.pretrained(),
    "floor": lambda: FloorGate(PANGate(features="logits", hidden_layer_sizes=(4,), max_epochs=2,
                                       random_state=0), random_state=0),
    "fast-router": lambda: FastRouter(NaiveConcatGate(), max_epochs=3,
                                      validation_fraction=None, random_state=0),
    "fast-router-fallen-back": lambda: FastRouter(NaiveConcatGate(), max_epochs=1, lr=1e-9,
                                                  random_state=0),
    "soft": lambda: SoftMoE("mlp", hidden_units=4, max_epochs=2, random_state=0),
    "soft-heads": lambda: SoftMoE("embedding", heads="linear", embedding_dim=4, max_epochs=3,
                                  random_state=0),
    "soft-joint": lambda: SoftMoE("linear", train_experts=True, max_epochs=3, random_state=0),
}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(150, 6, n_informative=4, n_classes=3, random_state=0)
    return X.astype(np.float32), y


def _trained_mixture(gate, X, y):
    """Experts trained by the mixture (tiny MLPs), then the gate."""
    return MixtureOfExperts(
        [("a", tiny_expert([0, 1])), ("b", tiny_expert([1, 2], hidden=(6,), random_state=1))],
        gate=gate, gate_split=0.3, random_state=0,
    ).fit(X, y)


@pytest.fixture(scope="module")
def mnist():
    X, y = load_mnist_sample(return_X_y=True)
    return X[::25], y[::25]


@pytest.fixture(scope="module")
def pretrained_experts():
    torch.manual_seed(0)
    return [
        ("low", Expert.from_pretrained(LeNet5(n_classes=5), classes=[0, 1, 2, 3, 4],
                                       input_transform=mnist_transform())),
        ("high", Expert.from_pretrained(LeNet5(n_classes=5), classes=[5, 6, 7, 8, 9],
                                        input_transform=mnist_transform())),
    ]


def _skgate_round_trip(estimator, tmp_path, **kwargs):
    path = tmp_path / "model.skgate"
    skgate.save(estimator, path)
    return skgate.load(path, **kwargs)


# -- pickle and joblib -------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["naive", "pan", "universal", "soft-joint", "fast-router"])
def test_pickle_and_joblib_round_trips(gate, data, tmp_path):
    X, y = data
    moe = _trained_mixture(GATES[gate](), X, y)
    expected = moe.predict_proba(X)
    loaded = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    joblib.dump(moe, tmp_path / "moe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "moe.joblib").predict_proba(X),
                                  expected)


# -- skgate.save / skgate.load -----------------------------------------------------------
@pytest.mark.parametrize("gate", list(GATES))
def test_round_trip_with_trained_experts(gate, data, tmp_path):
    X, y = data
    moe = _trained_mixture(GATES[gate](), X, y)
    loaded = _skgate_round_trip(moe, tmp_path, trusted=TRUSTED)
    assert type(loaded.gate_) is type(moe.gate_)
    np.testing.assert_array_equal(loaded.predict_proba(X), moe.predict_proba(X))
    np.testing.assert_array_equal(loaded.route_proba(X), moe.route_proba(X))
    np.testing.assert_array_equal(loaded.classes_, moe.classes_)
    assert loaded.get_params(deep=False).keys() == moe.get_params(deep=False).keys()


@pytest.mark.parametrize("gate", ["naive", "pan", "augmented", "universal-pretrained",
                                  "soft", "fast-router"])
def test_round_trip_with_pretrained_experts(gate, mnist, pretrained_experts, tmp_path):
    X, y = mnist
    if gate == "fast-router":
        gate_ = FastRouter(module="cnn", max_epochs=2, random_state=0)
    else:
        gate_ = GATES[gate]()
    moe = MixtureOfExperts(pretrained_experts, gate=gate_).fit(X, y)
    path = tmp_path / "moe.skgate"
    skgate.save(moe, path)
    assert skgate.untrusted_types(path) == []  # skgate's own types and LeNet5 only
    loaded = skgate.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), moe.predict_proba(X))
    for expert in loaded.experts_:
        assert expert.frozen and expert.__sklearn_is_fitted__()
        assert loaded.experts_[0].input_transform is not None
    # frozen experts stay frozen (clone returns them, set_params refuses)
    assert clone(loaded.experts_[0]) is loaded.experts_[0]
    with pytest.raises(ValueError, match="frozen"):
        loaded.experts_[0].set_params(lr=0.1)


def test_shared_modules_stay_shared(data, tmp_path):
    # SoftMoE(train_experts=True) trains the experts' own modules inside its network
    X, y = data
    moe = _trained_mixture(GATES["soft-joint"](), X, y)
    loaded = _skgate_round_trip(moe, tmp_path, trusted=TRUSTED)
    joint = list(loaded.gate_.net_.module_.modules())
    assert all(any(m is expert.module_ for m in joint) for expert in loaded.experts_)
    assert loaded.experts_[0] is loaded.named_experts_["a"]
    assert loaded.expert_set_.experts[1] is loaded.experts_[1]


def test_round_trip_of_a_pipeline_and_of_an_unfitted_mixture(data, tmp_path):
    X, y = data
    pipe = make_pipeline(StandardScaler(), clone(_trained_mixture(NaiveConcatGate(), X, y)))
    pipe.fit(X, y)
    loaded = _skgate_round_trip(pipe, tmp_path, trusted=TRUSTED)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))

    unfitted = MixtureOfExperts([("a", tiny_expert([0, 1])), ("b", tiny_expert([2]))],
                                gate=PANGate(max_epochs=2))
    loaded = _skgate_round_trip(unfitted, tmp_path, trusted=TRUSTED)
    assert repr(loaded) == repr(unfitted)
    loaded.set_params(gate_split=0.3, random_state=0).fit(X, y)  # fits as the original


def test_string_labels_and_global_rng_untouched(tmp_path):
    experts = [("a", Expert.from_pretrained(torch.nn.Linear(4, 3), classes=["x", "y", "z"]))]
    X = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    moe = MixtureOfExperts(experts).fit(X)
    state = torch.get_rng_state()
    loaded = _skgate_round_trip(moe, tmp_path)
    assert torch.equal(torch.get_rng_state(), state)
    assert loaded.predict(X).tolist() == moe.predict(X).tolist()
    assert loaded.classes_.dtype == moe.classes_.dtype


# -- trust ----------------------------------------------------------------------------------
def test_user_classes_must_be_trusted(data, tmp_path):
    X, y = data
    moe = _trained_mixture(NaiveConcatGate(), X, y)
    path = tmp_path / "moe.skgate"
    skgate.save(moe, path)
    name = "skgate.utils._testing.SizedExpert"
    assert skgate.untrusted_types(path) == [name]
    assert skgate.untrusted_types(path, trusted=[SizedExpert]) == []
    with pytest.raises(UntrustedTypeError, match=name) as info:
        skgate.load(path)
    assert info.value.types == [name]
    loaded = skgate.load(path, trusted=[name])  # an import path works too
    np.testing.assert_array_equal(loaded.predict_proba(X), moe.predict_proba(X))


def test_save_refuses_what_it_cannot_write_without_pickle(tmp_path):
    expert = Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1],
                                    input_transform=lambda x: x * 2)
    with pytest.raises(TypeError, match="lambda"):
        skgate.save(expert, tmp_path / "expert.skgate")


# -- malicious files ------------------------------------------------------------------------
def _rewrite(path, out, *, document=None, replace=None):
    """Copy the archive at ``path`` to ``out`` with a new description or member."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if document is not None:
        members["skgate.json"] = json.dumps(document).encode()
    members.update(replace or {})
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out


class _Exploit:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.fixture
def saved(tmp_path):
    expert = Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1])
    moe = MixtureOfExperts([("a", expert)]).fit(np.zeros((3, 4), np.float32))
    path = tmp_path / "good.skgate"
    skgate.save(moe, path)
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("skgate.json"))
    return path, document


@pytest.mark.parametrize("key, name", [("$object", "builtins.exec"), ("$global", "os.system"),
                                       ("$net", "subprocess.Popen"),
                                       ("$namedtuple", "os.system")])
def test_a_file_naming_a_dangerous_type_is_refused(saved, tmp_path, key, name):
    path, document = saved
    document["root"]["state"]["gate"] = {key: name, "id": 999, "state": {}, "params": {},
                                         "extra": {}, "items": []}
    bad = _rewrite(path, tmp_path / "bad.skgate", document=document)
    assert name in skgate.untrusted_types(bad)
    with pytest.raises(UntrustedTypeError, match=name.replace(".", r"\.")) as info:
        skgate.load(bad)
    assert name in info.value.types


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_payload_in_the_tensors_is_refused(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "marker"
    payload = io.BytesIO()
    torch.save({"t0": _Exploit(marker)}, payload)  # a torch file whose pickle runs code
    bad = _rewrite(path, tmp_path / "bad.skgate", replace={"tensors.pt": payload.getvalue()})
    with pytest.raises(UntrustedTypeError, match="weights_only"):
        skgate.load(bad)
    assert not marker.exists()
    raw = _rewrite(path, tmp_path / "raw.skgate",
                   replace={"tensors.pt": pickle.dumps(_Exploit(marker))})
    with pytest.raises(UntrustedTypeError):
        skgate.load(raw)
    assert not marker.exists()


def test_a_pickled_object_array_is_refused(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "marker"
    arrays = io.BytesIO()
    np.savez(arrays, a0=np.array([_Exploit(marker)], dtype=object))
    bad = _rewrite(path, tmp_path / "bad.skgate", replace={"arrays.npz": arrays.getvalue()})
    with pytest.raises(UntrustedTypeError, match="pickle"):
        skgate.load(bad)
    assert not marker.exists()


def test_a_plain_pickle_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError, match="not a file written by skgate.save"):
        skgate.load(path)
    with pytest.raises(ValueError, match="not a file written by skgate.save"):
        skgate.untrusted_types(path)
    joblib.dump({"a": 1}, tmp_path / "model.joblib")
    with pytest.raises(ValueError, match="not a file written by skgate.save"):
        skgate.load(tmp_path / "model.joblib")
    torch.save({"a": torch.zeros(1)}, tmp_path / "model.pt")  # a zip, but not skgate's
    with pytest.raises(ValueError, match="not a file written by skgate.save"):
        skgate.load(tmp_path / "model.pt")
    assert not marker.exists()


# -- devices --------------------------------------------------------------------------------
def test_a_mixture_saved_on_cuda_loads_on_the_cpu(mnist, pretrained_experts, tmp_path,
                                                  monkeypatch):
    X, y = mnist
    moe = MixtureOfExperts(pretrained_experts,
                           gate=PANGate(max_epochs=2, random_state=0)).fit(X, y)
    expected = moe.predict_proba(X)
    path = tmp_path / "cuda.skgate"
    with monkeypatch.context() as patch:
        # as if every tensor lived on the GPU and the networks ran there: torch.save records
        # the storage's location tag, which torch.load restores unless given map_location
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        for expert in moe.experts_:
            object.__setattr__(expert, "device", "cuda")
        skgate.save(moe, path)
        for expert in moe.experts_:
            object.__setattr__(expert, "device", "cpu")
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("skgate.json"))["devices"] == ["cuda:0"]
        tensors = archive.read("tensors.pt")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA"):  # what plain torch.load would do
        torch.load(io.BytesIO(tensors), weights_only=True)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = skgate.load(path)
    assert [expert.device for expert in loaded.experts_] == ["cpu", "cpu"]
    assert all(p.device.type == "cpu" for e in loaded.experts_ for p in e.module_.parameters())
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_map_location(monkeypatch):
    from skgate._persistence._load import _map_location

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _map_location(["cuda:0"], "f") is None  # a GPU here: tensors go where they were
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="cuda:0"):
        assert _map_location(["cpu", "cuda:0"], "f") == "cpu"
    assert _map_location(["cpu"], "f") == "cpu"


def test_a_file_saved_on_cuda_1_loads_on_a_one_gpu_machine(mnist, pretrained_experts, tmp_path,
                                                          monkeypatch):
    # #25 item 8: the device-count error of torch.load was reported as a malformed file
    X, y = mnist
    moe = MixtureOfExperts(pretrained_experts,
                           gate=PANGate(max_epochs=2, random_state=0)).fit(X, y)
    expected = moe.predict_proba(X)
    path = tmp_path / "cuda1.skgate"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:1")
        for expert in moe.experts_:
            object.__setattr__(expert, "device", "cuda:1")
        skgate.save(moe, path)
    # a machine with one GPU; its copies to the GPU are stood in for by no copy at all
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.UntypedStorage, "to", lambda self, *a, **k: self)
    with pytest.warns(UserWarning, match="this machine has 1 GPU: they are loaded on cuda:0"):
        loaded = skgate.load(path)
    assert [expert.device for expert in loaded.experts_] == ["cuda:0", "cuda:0"]
    for expert in loaded.experts_:
        object.__setattr__(expert, "device", "cpu")  # the stand-in kept them on the CPU
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def test_a_trusted_function_is_not_run_as_a_network(saved, tmp_path):
    path, document = saved
    document["root"]["state"]["gate"] = {"$net": "builtins.print", "id": 999, "params": {},
                                         "extra": {}}
    with pytest.raises(UntrustedTypeError, match="not a skorch network"):
        skgate.load(_rewrite(path, tmp_path / "bad.skgate", document=document))


def test_every_trusted_type_imports():
    from skgate._persistence._allowlist import _import, _path

    for name in skgate.TRUSTED_TYPES:
        assert _path(_import(name)) == name, name
    assert "torchvision.transforms.v2._misc.Lambda" not in skgate.TRUSTED_TYPES


# -- the reference modules and input transforms -----------------------------------------------
@pytest.mark.parametrize("module, transform", [
    (lambda: SmallResNet(in_channels=3, n_classes=3),
     lambda: image_transform(3, size=32, mean=[0.5] * 3, std=[0.2] * 3)),
    (lambda: ThumbnailCNN(in_channels=1, n_outputs=3), lambda: None),
    (lambda: LeNet5(n_classes=3, input_size=28),
     lambda: image_transform(1, size=28, resize="resize")),
    (lambda: MLP(n_classes=3, hidden_layer_sizes=(5,)), lambda: None),
], ids=["resnet", "thumbnail", "lenet", "mlp"])
def test_reference_modules_and_transforms_are_trusted(module, transform, tmp_path):
    torch.manual_seed(0)
    X = np.random.default_rng(0).random((6, 1, 28, 28), dtype=np.float32)
    network = module()
    network(torch.zeros(1, *X.shape[1:]) if transform() is None else transform()(
        torch.zeros(1, *X.shape[1:])))  # materialises lazy layers
    expert = Expert.from_pretrained(network.eval(), classes=[0, 1, 2],
                                    input_transform=transform())
    path = tmp_path / "expert.skgate"
    skgate.save(expert, path)
    assert skgate.untrusted_types(path) == []
    np.testing.assert_array_equal(skgate.load(path).predict_proba(X), expert.predict_proba(X))


def test_an_expert_trained_with_skorchs_defaults(mnist, tmp_path):
    # default train_split (ValidSplit), callbacks scoring with a function, a history
    X, y = mnist
    expert = Expert(LeNet5, module__n_classes=10, module__input_size=28, max_epochs=1,
                    lr=0.05, verbose=0, random_state=0).fit(X, y)
    loaded = _skgate_round_trip(expert, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), expert.predict_proba(X))
    assert loaded.history[-1, "valid_acc"] == expert.history[-1, "valid_acc"]
    loaded.partial_fit(X[:20], y[:20])  # trains on (a fresh optimiser)


def test_a_mixture_saved_before_n_jobs_existed_loads_and_predicts(mnist, pretrained_experts,
                                                                  tmp_path):
    X, _ = mnist
    moe = MixtureOfExperts(pretrained_experts).fit(X)
    expected = moe.predict_proba(X)
    del moe.n_jobs, moe.expert_set_.n_jobs  # as a file written before the parameter
    loaded = _skgate_round_trip(moe, tmp_path)
    assert "n_jobs" not in vars(loaded) and loaded.get_params()["n_jobs"] is None
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    np.testing.assert_array_equal(loaded.set_params(n_jobs=2).predict_proba(X), expected)


def test_a_pipeline_with_a_numpy_function_step_round_trips(tmp_path):
    # numpy defines reshape in a private module (numpy._core.fromnumeric): it is written by
    # the public name it imports by, and trusted like a class
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skgate.utils._testing import Scale, slice_expert

    X = np.random.default_rng(0).normal(size=(30, 6)).astype(np.float32)
    pipe = make_pipeline(FunctionTransformer(np.reshape, kw_args={"shape": (-1, 6)}),
                         MixtureOfExperts([("a", slice_expert(6, 0, [0, 1])),
                                           ("b", slice_expert(6, 2, [2, 3]))])).fit(X)
    path = tmp_path / "pipe.skgate"
    skgate.save(pipe, path)
    assert "numpy.reshape" in skgate.untrusted_types(path)
    restored = skgate.load(path, trusted=[np.reshape, FunctionTransformer, Scale])
    np.testing.assert_array_equal(restored.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("func", [np.ravel, np.log1p, np.mean])
def test_numpy_functions_are_saved_by_their_public_name(tmp_path, func):
    from sklearn.preprocessing import FunctionTransformer

    skgate.save(FunctionTransformer(func), tmp_path / "step.skgate")
    assert f"numpy.{func.__name__}" in skgate.untrusted_types(tmp_path / "step.skgate")
    restored = skgate.load(tmp_path / "step.skgate", trusted=[func, FunctionTransformer])
    assert restored.func is func

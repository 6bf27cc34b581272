"""The one cache of trained experts shared by the benches."""

import torch

from skgate import Expert
from skgate.bench._cache import cache_path, frozen_experts, load_modules, save_modules


class _Linear(torch.nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        self.fc = torch.nn.Linear(3, n_classes)

    def forward(self, x):
        return self.fc(x)


def tiny_expert(classes, seed=0):
    return Expert(_Linear, module__n_classes=len(classes), classes=classes, random_state=seed)


def _experts():
    return [("a", tiny_expert([0, 1])), ("b", tiny_expert([2, 3]))]


def test_cache_path_needs_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SKGATE_CACHE_DIR", raising=False)
    assert cache_path(None, "x.pt") is None
    assert cache_path(tmp_path, "x.pt") == tmp_path / "x.pt"
    monkeypatch.setenv("SKGATE_CACHE_DIR", str(tmp_path))
    assert cache_path(None, "x.pt") == tmp_path / "x.pt"


def test_modules_round_trip_with_and_without_times(tmp_path):
    experts = _experts()
    modules = [expert.initialize().module_ for _, expert in experts]
    path = tmp_path / "sub" / "p.pt"
    assert load_modules(path, experts) is None
    save_modules(path, ["a", "b"], modules, {"a": 1.5, "b": 2.0})
    loaded, train_s = load_modules(path, [(n, tiny_expert(e.classes, seed=1))
                                          for n, e in _experts()])
    assert train_s == {"a": 1.5, "b": 2.0}
    for m, n in zip(modules, loaded):
        for p, q in zip(m.state_dict().values(), n.state_dict().values()):
            assert torch.equal(p, q)
    save_modules(path, ["a", "b"], modules)
    assert set(torch.load(path, weights_only=True)) == {"a", "b"}
    assert load_modules(path, _experts())[1] == {}
    frozen = frozen_experts(experts, loaded)
    assert [name for name, _ in frozen] == ["a", "b"]
    assert all(e.frozen and e.module_ is m for (_, e), m in zip(frozen, loaded))


def test_a_single_expert_file_of_the_fusion_bench_still_loads(tmp_path):
    (name, expert), = _experts()[:1]
    module = expert.initialize().module_
    path = tmp_path / "fusion_a.pt"
    torch.save({"state_dict": module.state_dict(), "train_s": 3.0}, path)
    (loaded,), train_s = load_modules(path, [(name, tiny_expert([0, 1], seed=1))])
    assert train_s == {"a": 3.0}
    for p, q in zip(module.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(p, q)

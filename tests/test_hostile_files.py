"""Hostile and broken files: zip bombs, sizes and weights taken from the file, corruption.

``skgate.load``, ``skgate.untrusted_types`` and the correction files of ``UniversalGate``
check every size a file declares before allocating it, refuse non-finite weights and hooks,
and turn every malformed file into one ``MalformedFileError`` naming where it is broken.
The memory tests run in a child process and compare its peak resident memory
(``ru_maxrss``) after importing skgate with its peak after the call.
"""

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

import skgate
from skgate import (
    Expert,
    FileTooLargeError,
    MalformedFileError,
    MixtureOfExperts,
    UntrustedTypeError,
)
from skgate.gates import FastRouter, PANGate, SoftMoE, UniversalGate
from skgate.gates._universal_io import load_correction
from skgate.models import LeNet5
from skgate.utils._testing import tiny_expert

GiB = 2**30
MAX_PEAK_MB = 300
RNG = np.random.default_rng(0)
X = RNG.normal(size=(90, 6)).astype(np.float32)
Y = np.argmax(X[:, :3], axis=1)


def _linear_experts():
    torch.manual_seed(0)
    return [("a", Expert.from_pretrained(torch.nn.Linear(6, 2), classes=[0, 1])),
            ("b", Expert.from_pretrained(torch.nn.Linear(6, 2), classes=[1, 2]))]


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(out, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out


def _rewrite(path, out, *, document=None, **replace):
    """Copy the archive at ``path`` to ``out``, with a new description or entries
    (``arrays``, ``tensors``: bytes)."""
    members = _members(path)
    if document is not None:
        members["skgate.json"] = json.dumps(document).encode()
    names = {"arrays": "arrays.npz", "tensors": "tensors.pt"}
    members.update({names[key]: value for key, value in replace.items()})
    return _write(out, members)


def _document(path):
    return json.loads(_members(path)["skgate.json"])


def _zeros(archive, name, size, chunk=2**24):
    """Write ``size`` zero bytes to the entry ``name``, deflated, in chunks."""
    zeros = bytes(chunk)
    with archive.open(name, "w", force_zip64=True) as entry:
        for start in range(0, size, chunk):
            entry.write(zeros[: min(chunk, size - start)])


def _peak_delta_mb(code, tmp_path):
    """Run ``code`` (after ``import skgate``) in a child process: the increase of its peak
    resident memory, in MB, over the peak after the imports."""
    script = textwrap.dedent("""
        import resource, sys
        import skgate, skgate.gates

        def peak():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        before = peak()
        try:
        {code}
        except Exception as exc:
            print("raised", type(exc).__name__, str(exc)[:300])
        print("delta", peak() - before)
    """).format(code=textwrap.indent(textwrap.dedent(code), "    "))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    return float(lines[-1].split()[1]), "\n".join(lines[:-1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small fitted mixture (a skorch gate, arrays and tensors), saved."""
    moe = MixtureOfExperts(_linear_experts(), gate=PANGate(
        features="logits", hidden_layer_sizes=(4,), max_epochs=2, random_state=0)).fit(X, Y)
    path = tmp_path_factory.mktemp("saved") / "moe.skgate"
    skgate.save(moe, path)
    return path


# -- 1. zip bombs ---------------------------------------------------------------------------
def _outer_bomb(saved, out, size):
    """``arrays.npz`` inflates to ``size`` bytes of zeros (compressed: a few MB)."""
    members = _members(saved)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("skgate.json", members["skgate.json"])
        _zeros(zf, "arrays.npz", size)
        zf.writestr("tensors.pt", members["tensors.pt"])
    return out


def _inner_bomb(saved, out, size):
    """``arrays.npz`` is small, but its ``a0.npy`` inflates to ``size`` bytes: a valid
    ``.npy`` header, then zeros."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (size // 8,)})
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("a0.npy", "w", force_zip64=True) as entry:
            entry.write(header.getvalue())
            zeros = bytes(2**24)
            for start in range(0, size, len(zeros)):
                entry.write(zeros[: min(len(zeros), size - start)])
    return _rewrite(saved, out, arrays=npz.getvalue())


@pytest.mark.parametrize("bomb", [_outer_bomb, _inner_bomb], ids=["arrays.npz", "a0.npy"])
def test_a_zip_bomb_is_refused_before_it_is_inflated(bomb, saved, tmp_path):
    path = bomb(saved, tmp_path / "bomb.skgate", GiB + 2**20)
    assert path.stat().st_size < 8 * 2**20  # 1 GiB in a few MB
    delta, out = _peak_delta_mb(f"""
        print(skgate.untrusted_types({str(path)!r}))
        skgate.load({str(path)!r})
    """, tmp_path)
    assert "[]" in out  # untrusted_types reads the JSON only
    assert "raised FileTooLargeError" in out and "MAX_LOAD_BYTES" in out, out
    assert delta < MAX_PEAK_MB, (delta, out)


def test_max_bytes_is_checked_and_can_be_raised(saved, tmp_path):
    with pytest.raises(FileTooLargeError, match=r"skgate.json declares .* more than max_bytes / "
                                                r"64 = 64 bytes for the description \(max_bytes "
                                                r"is 4096 bytes; the default is skgate\.MAX_"):
        skgate.load(saved, max_bytes=4096)
    assert skgate.MAX_LOAD_BYTES == GiB
    assert isinstance(skgate.load(saved, max_bytes=2**26), MixtureOfExperts)
    for bad in (0, -1, 1.5, "1", True):
        with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
            skgate.load(saved, max_bytes=bad)


def test_an_npy_header_declaring_more_than_its_data_is_refused(saved, tmp_path):
    # a header declaring 2 GiB over 8 bytes of data: numpy would allocate before reading
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2**28,)})
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as zf:
        zf.writestr("a0.npy", header.getvalue() + bytes(8))
    bad = _rewrite(saved, tmp_path / "bad.skgate", arrays=npz.getvalue())
    with pytest.raises(MalformedFileError, match=r"arrays.npz/a0.npy: its header declares "
                                                 r"shape \(268435456,\)"):
        skgate.load(bad)


def test_an_expanded_tensor_is_refused(saved, tmp_path):
    tensors = torch.load(io.BytesIO(_members(saved)["tensors.pt"]), weights_only=True)
    key = next(iter(tensors))
    tensors[key] = torch.zeros(1).expand(10**6)  # 4 bytes of storage, 10**6 elements
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    bad = _rewrite(saved, tmp_path / "bad.skgate", tensors=buffer.getvalue())
    with pytest.raises(MalformedFileError, match="overlapping strides"):
        skgate.load(bad)


# -- 2. sizes taken from the file -------------------------------------------------------------
def _lenet_expert_file(tmp_path, n_classes):
    """A LeNet-5 expert (built by skorch from its class) whose file declares ``n_classes``."""
    expert = Expert(LeNet5, module__n_classes=10, module__input_size=28, max_epochs=1,
                    classes=list(range(10)), verbose=0).initialize()
    path = tmp_path / "lenet.skgate"
    skgate.save(expert, path)
    document = _document(path)
    assert document["root"]["params"]["module__n_classes"] == 10
    document["root"]["params"]["module__n_classes"] = n_classes
    return _rewrite(path, tmp_path / "edited.skgate", document=document)


def test_module_sizes_from_the_file_are_checked_before_anything_is_built(tmp_path):
    path = _lenet_expert_file(tmp_path, 5_000_000)  # 84 x 5e6 floats: 1.6 GB
    delta, out = _peak_delta_mb(f"skgate.load({str(path)!r})", tmp_path)
    assert "raised MalformedFileError" in out and "shape (5000000,)" in out, out
    assert delta < MAX_PEAK_MB, (delta, out)


def test_module_parameters_must_match_the_stored_weights(tmp_path):
    with pytest.raises(MalformedFileError,
                       match=r"root\.module_: the network's parameters build a module whose "
                             r"head\.bias has shape \(12,\), but the file stores a tensor of "
                             r"shape \(10,\)"):
        skgate.load(_lenet_expert_file(tmp_path, 12))
    assert skgate.load(_lenet_expert_file(tmp_path, 10)).module_.head.out_features == 10


def _correction_file(tmp_path, hidden_units, stored_units=2):
    """An MLP correction JSON declaring ``hidden_units``, holding weights for
    ``stored_units``."""
    n = 3
    state = {"0.weight": np.zeros((stored_units, n)), "0.bias": np.zeros(stored_units),
             "2.weight": np.zeros((1, stored_units)), "2.bias": np.zeros(1)}
    data = {"format": "skgate.UniversalGate.correction", "version": 1,
            "statistics": ["energy", "max_logit", "entropy_ratio"], "kind": "mlp",
            "hidden_units": hidden_units, "feature_mean": [0.0] * n, "feature_scale": [1.0] * n,
            "state": {k: v.tolist() for k, v in state.items()}, "provenance": {}}
    path = tmp_path / "correction.json"
    path.write_text(json.dumps(data))
    return path


def test_a_correction_declaring_more_hidden_units_than_it_holds_is_refused(tmp_path):
    path = _correction_file(tmp_path, 20_000_000)
    assert path.stat().st_size < 2000
    delta, out = _peak_delta_mb(f"""
        import numpy as np
        from skgate import MixtureOfExperts
        from skgate.utils._testing import slice_expert
        X = np.random.default_rng(0).normal(size=(60, 6))
        experts = [("a", slice_expert(6, 0, [0, 1])), ("b", slice_expert(6, 2, [2, 3]))]
        gate = skgate.gates.UniversalGate({str(path)!r}, calibration="none")
        MixtureOfExperts(experts, gate=gate).fit(X)
    """, tmp_path)
    assert "raised MalformedFileError" in out and "hidden units" in out, out
    assert delta < MAX_PEAK_MB, (delta, out)
    with pytest.raises(MalformedFileError, match=r"state\['0.weight'\] has shape \(2, 3\), "
                                                 r"but a mlp correction on 3 statistics with "
                                                 r"1000 hidden units needs \(1000, 3\)"):
        load_correction(_correction_file(tmp_path, 1000))
    assert load_correction(_correction_file(tmp_path, 2))["hidden_units"] == 2


def test_a_saved_universal_gate_declaring_other_hidden_units_is_refused(tmp_path):
    gate = UniversalGate(str(_correction_file(tmp_path, 2)), calibration="none")
    moe = MixtureOfExperts(_linear_experts(), gate=gate).fit(X, Y)
    path = tmp_path / "moe.skgate"
    skgate.save(moe, path)
    document = _document(path)
    correction = document["root"]["state"]["gate_"]["state"]["correction_"]
    hidden = next(pair for pair in correction["$dict"] if pair[0] == "hidden_units")
    hidden[1] = 1000
    with pytest.raises(MalformedFileError,
                       match=r"at root\.gate_: .*needs \(1000, 3\)"):
        skgate.load(_rewrite(path, tmp_path / "bad.skgate", document=document))


# -- 3. non-finite weights ------------------------------------------------------------------
def _keys_under(node, tag):
    if isinstance(node, list):
        return [k for item in node for k in _keys_under(item, tag)]
    if isinstance(node, dict):
        own = [node["key"]] if tag in node and "key" in node else []
        return own + [k for value in node.values() for k in _keys_under(value, tag)]
    return []


@pytest.mark.parametrize("gate, where", [
    (lambda: SoftMoE("mlp", hidden_units=4, max_epochs=2, random_state=0), "tensors"),
    (lambda: FastRouter(max_epochs=2, validation_fraction=None, random_state=0), "tensors"),
    (lambda: UniversalGate("linear", calibration="affine", max_iter=10, random_state=0),
     "tensors"),
    (lambda: UniversalGate("linear", calibration="affine", max_iter=10, random_state=0),
     "arrays"),
], ids=["soft", "fast-router", "universal-calibration", "universal-correction"])
def test_non_finite_gate_weights_are_refused(gate, where, tmp_path):
    moe = MixtureOfExperts(_linear_experts(), gate=gate()).fit(X, Y)
    path = tmp_path / "moe.skgate"
    skgate.save(moe, path)
    gate_node = _document(path)["root"]["state"]["gate_"]
    members = _members(path)
    if where == "tensors":
        keys = _keys_under(gate_node, "$tensor")
        tensors = torch.load(io.BytesIO(members["tensors.pt"]), weights_only=True)
        key = next(k for k in keys if tensors[k].is_floating_point())
        tensors[key] = torch.full_like(tensors[key], float("nan"))
        payload = io.BytesIO()
        torch.save(tensors, payload)
        bad = _rewrite(path, tmp_path / "nan.skgate", tensors=payload.getvalue())
    else:
        keys = _keys_under(gate_node, "$array")
        with np.load(io.BytesIO(members["arrays.npz"])) as npz:
            arrays = {k: npz[k] for k in npz.files}
        key = next(k for k in keys if arrays[k].dtype.kind == "f")
        arrays[key] = np.full_like(arrays[key], np.inf)
        payload = io.BytesIO()
        np.savez(payload, **arrays)
        bad = _rewrite(path, tmp_path / "inf.skgate", arrays=payload.getvalue())
    with pytest.raises(MalformedFileError, match=rf"at root\.gate_.*{key!r}.*non-finite"):
        skgate.load(bad)


# -- 4. malformed files ---------------------------------------------------------------------
def _expert_node(document):
    return document["root"]["state"]["experts"][0]["$tuple"][1]


def _edit(edit):
    """An edit of the description, as a function of the description returning its text."""
    def apply(document):
        edit(document)
        return json.dumps(document)
    return apply


def _module_state(document):
    return _expert_node(document)["params"]["module"]["state"]


def _deep(depth):
    """The gate parameter nested ``depth`` levels deep (built as text: json.dumps would
    recurse)."""
    def apply(document):
        document["root"]["state"]["gate"] = "@deep@"
        return json.dumps(document).replace('"@deep@"', '{"$tuple": [' * depth + "1"
                                            + "]}" * depth)
    return apply


# each edit once raised the error in its id, or loaded: a gate nested 400 levels deep, a
# 256 MiB NumPy scalar, hooks (print ran at predict), a parameter that is a string
EDITS = {
    "KeyError-ref": _edit(lambda d: d["root"]["state"].update(gate={"$ref": 12345})),
    "KeyError-state": _edit(lambda d: d["root"].pop("state")),
    "AttributeError": _edit(lambda d: d["root"].update(state=[1, 2])),
    "TypeError": _edit(lambda d: d["root"]["state"].update(gate={"$set": [{"$dict": []}]})),
    "IndexError": _edit(lambda d: d["root"]["state"].update(
        gate={"$random_state": 99, "state": ["MT19937"]})),
    "nested 400 levels deep": _deep(400),
    "RecursionError": _deep(100_000),
    "OverflowError": _edit(lambda d: d["root"]["state"].update(
        gate={"$num": "builtins.float", "value": 10**400})),
    "a 256 MiB scalar": _edit(lambda d: d["root"]["state"].update(
        gate={"$np": "|V8", "value": 2**28})),
    "ValueError-size": _edit(lambda d: d["root"]["state"].update(gate={"$size": ["x"]})),
    "forward-pre-hook": _edit(lambda d: _module_state(d).update(_forward_pre_hooks={
        "$dict": [[0, {"$global": "builtins.print"}]], "ordered": True})),
    "forward-hook": _edit(lambda d: _module_state(d).update(_forward_hooks={
        "$dict": [[0, {"$global": "builtins.print"}]], "ordered": True})),
    "a parameter that is not a tensor": _edit(lambda d: _module_state(d)["_parameters"]
                                              ["$dict"][0].__setitem__(1, "weights")),
    "UntrustedTypeError-5": _edit(lambda d: d["root"].update({"$object": 5})),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_a_malformed_description_raises_malformed_file_error(name, saved, tmp_path, capsys):
    members = _members(saved)
    members["skgate.json"] = EDITS[name](_document(saved)).encode()
    bad = _write(tmp_path / "bad.skgate", members)
    with pytest.raises(MalformedFileError, match=r"bad\.skgate is malformed: ") as info:
        skgate.load(bad)
    assert info.value.where
    assert isinstance(info.value, ValueError) and not isinstance(info.value, UntrustedTypeError)
    assert capsys.readouterr().out == ""  # nothing from the file ran (print as a hook)


def test_hooks_are_refused_and_the_message_says_where(saved, tmp_path):
    members = _members(saved)
    members["skgate.json"] = EDITS["forward-pre-hook"](_document(saved)).encode()
    bad = _write(tmp_path / "bad.skgate", members)
    with pytest.raises(MalformedFileError, match=r"at root\.experts\[0\]\[1\]\.module: .*"
                                                 r"_forward_pre_hooks is not empty"):
        skgate.load(bad)


def test_not_a_skgate_file_is_refused(tmp_path):
    for content in (b"", b"PK\x05\x06" + bytes(18), b"not a zip"):
        path = tmp_path / "file.skgate"
        path.write_bytes(content)
        with pytest.raises(MalformedFileError, match="not a file written by skgate.save"):
            skgate.load(path)
        with pytest.raises(MalformedFileError, match="not a file written by skgate.save"):
            skgate.untrusted_types(path)
    _write(tmp_path / "zip.skgate", {"other.txt": b"x"})
    with pytest.raises(MalformedFileError, match="no skgate.json"):
        skgate.load(tmp_path / "zip.skgate")


# -- fuzzing: many corruptions of one file, and only MalformedFileError ------------------------
def _outcome(path):
    """"loaded", "malformed" (MalformedFileError, naming the file and a place), or the
    error that came out instead."""
    try:
        skgate.load(path)
    except MalformedFileError as exc:
        assert str(path) in str(exc) and exc.where, exc
        return "malformed"
    except Exception as exc:  # noqa: BLE001 - the point: nothing else may come out
        return f"{type(exc).__name__}: {exc}"
    return "loaded"


def _data_ranges(raw):
    """(start, end) of each entry's compressed data in the zip archive ``raw``."""
    ranges = []
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for info in archive.infolist():
            # the local header's extra field may differ from the central one: read its length
            extra = int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
            start = info.header_offset + 30 + len(info.filename.encode()) + extra
            ranges.append((start, start + info.compress_size))
    return ranges


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_corrupted_bytes_raise_only_malformed_file_error(how, saved, tmp_path):
    raw = saved.read_bytes()
    rng = np.random.default_rng(0)
    if how == "truncate":
        cuts = [0, 1, 10, 100, len(raw) // 4, len(raw) // 2, len(raw) - 22, len(raw) - 1]
        variants = [raw[:cut] for cut in cuts]
    else:
        variants = []
        for start, end in _data_ranges(raw):
            for position in [start, (start + end) // 2, end - 1, *rng.integers(start, end, 5)]:
                flipped = bytearray(raw)
                flipped[position] ^= 0xFF
                variants.append(bytes(flipped))
    failures = []
    for i, content in enumerate(variants):
        path = tmp_path / f"{how}{i}.skgate"
        path.write_bytes(content)
        outcome = _outcome(path)
        if outcome not in ("loaded", "malformed"):
            failures.append((i, outcome))
    assert not failures


def _nodes(node, path=()):
    """Every (path, container) pair of a JSON tree."""
    yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, (dict, list)):
            yield from _nodes(value, (*path, key))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


REPLACEMENTS = {"none": None, "int": -1, "float": 1e308, "str": "x", "list": [1, "a"],
                "dict": {"a": 1}, "nested": [[{}]]}


@pytest.mark.parametrize("op", ["delete", *REPLACEMENTS])
def test_json_edits_raise_only_malformed_file_error(op, saved, tmp_path):
    document = _document(saved)
    targets = [(path, key) for path, node in _nodes(document) for key in
               (node if isinstance(node, dict) else range(len(node)))]
    targets = targets[:: max(1, len(targets) // 60)]  # about 60 places across the tree
    failures, refused = [], 0
    for i, (path, key) in enumerate(targets):
        edited = _document(saved)
        parent = _at(edited, path)
        if op == "delete":
            del parent[key]
        elif key in ("$object", "$net", "$global", "$num", "$namedtuple") and op == "str":
            continue  # a type name replaced by another: UntrustedTypeError, by design
        else:
            parent[key] = REPLACEMENTS[op]
        bad = _rewrite(saved, tmp_path / f"{op}{i}.skgate", document=edited)
        outcome = _outcome(bad)
        refused += outcome == "malformed"
        if outcome not in ("loaded", "malformed"):
            failures.append((path, key, outcome))
    assert not failures
    assert refused > len(targets) // 4  # most edits break the file


def test_a_trained_expert_still_round_trips(tmp_path):
    # the networks are built on the meta device at load, then given their saved modules
    expert = tiny_expert([0, 1, 2], max_epochs=2).fit(X, Y)
    path = tmp_path / "expert.skgate"
    skgate.save(expert, path)
    loaded = skgate.load(path, trusted=[type(expert)])
    np.testing.assert_array_equal(loaded.predict_proba(X), expert.predict_proba(X))
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    parameters = list(loaded.module_.parameters())
    assert all(any(p is q for q in parameters)
               for p in loaded.optimizer_.param_groups[0]["params"])


def test_a_gate_whose_weights_became_non_finite_raises():
    # not from a file (load refuses those): a fitted soft gate whose weights are NaN
    moe = MixtureOfExperts(_linear_experts(), gate=SoftMoE(
        "mlp", hidden_units=4, max_epochs=1, random_state=0)).fit(X, Y)
    with torch.no_grad():
        for parameter in moe.gate_.net_.module_.gate.parameters():
            parameter.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"SoftMoE returned non-finite routing weights "
                                         r"\(NaN or infinity\) for 90 of 90 samples"):
        moe.route_proba(X)

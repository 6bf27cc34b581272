"""The zoo at scale (``python -m skgate bench zoo --memory`` and ``--grow``).

- ``--memory``: the peak memory of ``predict`` beyond ``X`` with the n experts of
  ``"zoo<n>"`` (the energy gate), on 10,000 and 100,000 inputs (the test images repeated),
  each size in a fresh process (:func:`skgate.bench._perf.measure_memory`: Linux's peak
  resident size, reset before ``predict``, above what the process held with ``X``
  allocated), with the experts in turns (``n_jobs=None``) and two at a time
  (``n_jobs=2``); and whether both give the same probabilities.
- ``--grow``: the fit of ``UniversalGate(calibration="affine")`` (a fixed calibration
  level: the default's level selection takes minutes and would hide the experts' passes)
  over the n experts of ``"zoo<n>"`` plus one more (the first expert of another zoo) on
  the gate images, without ``memory``, and with ``MixtureOfExperts(memory=...)`` (a fresh
  folder): the fit of the n experts (it fills the cache), the refit after adding the
  expert (only the new one runs) and a refit with nothing new (no expert runs), in one
  process.
"""

import shutil
import tempfile

import numpy as np
from sklearn.base import clone

from .. import MixtureOfExperts
from ..gates import NaiveConcatGate, UniversalGate
from ..utils._evaluation import format_table, timed
from ._cache import cache_path
from ._perf import measure_memory
from ._problems import cache_file, make_problem, trained_experts

#: the numbers of inputs of ``--memory``
MEMORY_INPUTS = (10_000, 100_000)
#: the inputs predicted with ``n_jobs=None`` and ``n_jobs=2`` to compare probabilities
SAME_INPUTS = 1_000


def memory_rows(moe, X, inputs=MEMORY_INPUTS, *, n_jobs=(None, 2), print_fn=None):
    """``predict``'s time and peak memory beyond ``X`` for each ``n_jobs`` and number of
    inputs (``X`` repeated), each in a fresh process."""
    rows = []
    for jobs in n_jobs:
        moe.set_params(n_jobs=jobs)  # an execution setting: no refit
        for n in inputs:
            result = measure_memory(moe, X, n)
            rows.append({"n_jobs": jobs, "inputs": n, "X_mb": n * X[:1].nbytes / 2**20,
                         **result})
            if print_fn:
                print_fn(f"  n_jobs={jobs}, {n:,} inputs: {result['predict_s']:.1f} s, peak "
                         f"{result['peak_mb']:.0f} MB beyond X")
    return rows


def same_probabilities(moe, X, n_jobs=2):
    """Whether ``predict_proba`` with ``n_jobs`` equals the sequential one, bit for bit."""
    proba = [moe.set_params(n_jobs=jobs).predict_proba(X) for jobs in (None, n_jobs)]
    moe.set_params(n_jobs=None)
    return bool(np.array_equal(*proba))


def run_memory(n=20, seed=0, *, inputs=MEMORY_INPUTS, data_dir=None, cache_dir=None,
               print_fn=None):
    """:func:`memory_rows` for the experts of ``"zoo<n>"`` behind the energy gate."""
    problem = make_problem(f"zoo{n}", seed, data_dir=data_dir)
    experts = trained_experts(problem, cache_dir=cache_dir)
    moe = MixtureOfExperts(experts, NaiveConcatGate("energy")).fit(problem.X_gate[:100])
    X = np.ascontiguousarray(problem.X_test[:1000], dtype=np.float32)
    same = same_probabilities(moe, np.resize(X, (SAME_INPUTS, *X.shape[1:])))
    if print_fn:
        print_fn(f"  zoo{n}: n_jobs=2 gives the same probabilities: {same}")
    return {"n": n, "seed": seed, "same_probabilities": same,
            "rows": memory_rows(moe, X, inputs, print_fn=print_fn)}


def report_memory(result, print_fn=print):
    """The ``--memory`` table, and the growth from the fewest to the most inputs."""
    rows = result["rows"]
    print_fn(f"\n#### Predict's peak memory beyond X, {result['n']} experts (zoo{result['n']} "
             f"seed {result['seed']}, energy gate, chunk_size 4096, each size in a fresh "
             "process)\n")
    table = [{"n_jobs": str(r["n_jobs"]), "inputs": f"{r['inputs']:,}",
              "X": f"{r['X_mb']:.0f} MB", "predict": f"{r['predict_s']:.1f} s",
              "peak": f"{r['peak_mb']:.0f} MB"} for r in rows]
    print_fn(format_table(table, ["n_jobs", "inputs", "X", "predict", "peak"],
                          headers=["n_jobs", "inputs", "X", "predict time",
                                   "peak memory beyond X"]))
    lines = []
    for jobs in dict.fromkeys(r["n_jobs"] for r in rows):
        mine = sorted((r for r in rows if r["n_jobs"] == jobs), key=lambda r: r["inputs"])
        if len(mine) > 1:
            lines.append(f"n_jobs={jobs}: {mine[-1]['peak_mb'] - mine[0]['peak_mb']:+.0f} MB "
                         f"from {mine[0]['inputs']:,} to {mine[-1]['inputs']:,} inputs")
    print_fn("\nGrowth of the peak: " + "; ".join(lines) + ". n_jobs=2 and n_jobs=None give "
             f"the same probabilities on {SAME_INPUTS:,} inputs: "
             f"{result['same_probabilities']}.")


#: the gate of ``--grow``
GROW_GATE = UniversalGate(calibration="affine", random_state=0)


def grow_row(experts, new, X, y, *, gate=GROW_GATE, X_check=None):
    """Fit times of ``gate`` over ``experts``
    plus ``new`` on ``(X, y)``: without ``memory``; with a fresh ``memory``, the fit of
    ``experts`` alone, the refit after adding ``new``, and a refit with nothing new. With
    ``X_check``, whether the grown mixture predicts as the one fitted without memory."""
    grown = [*experts, new]
    plain, plain_s = timed(MixtureOfExperts(grown, clone(gate)).fit, X, y)
    folder = tempfile.mkdtemp(prefix="skgate-grow-")
    try:
        moe = MixtureOfExperts(experts, clone(gate), memory=folder)
        first_s = timed(moe.fit, X, y)[1]
        grow_s = timed(moe.set_params(experts=grown).fit, X, y)[1]
        again_s = timed(moe.fit, X, y)[1]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    row = {"n": len(experts), "gate_inputs": len(X), "plain_s": plain_s, "first_s": first_s,
           "grow_s": grow_s, "again_s": again_s}
    if X_check is not None:
        row["same"] = bool(np.array_equal(plain.predict_proba(X_check),
                                          moe.predict_proba(X_check)))
    return row


def _donor(n, seed, cache_dir):
    """The expert added to ``"zoo<n>"``: the first of zoo20 (of zoo10 for n = 20), from
    the cache of trained experts (no data is read for it)."""
    name = "zoo10" if n == 20 else "zoo20"
    problem = make_problem(name, seed, random_samples=400)
    if cache_path(cache_dir, cache_file(problem)) is None or \
            not cache_path(cache_dir, cache_file(problem)).exists():
        raise FileNotFoundError(
            f"bench zoo --grow adds an expert of {name} to zoo{n}: its trained experts must "
            f"be in the cache ({cache_file(problem)}); run `python -m skgate bench zoo "
            f"--sizes {name[3:]} --seeds {seed}` with the same --cache-dir first.")
    key, expert = trained_experts(problem, cache_dir=cache_dir)[0]
    return f"new_{key}", expert


def run_grow(sizes=(10, 20), seed=0, *, data_dir=None, cache_dir=None, print_fn=None):
    """:func:`grow_row` for the experts of each ``"zoo<n>"`` plus one from another zoo."""
    rows = []
    for n in sizes:
        problem = make_problem(f"zoo{n}", seed, data_dir=data_dir)
        experts = trained_experts(problem, cache_dir=cache_dir)
        row = grow_row(experts, _donor(n, seed, cache_dir), problem.X_gate, problem.y_gate,
                       X_check=problem.X_test[:1000])
        rows.append({"seed": seed, **row})
        if print_fn:
            print_fn(f"  zoo{n}: without memory {row['plain_s']:.1f} s, refit after adding "
                     f"one {row['grow_s']:.1f} s")
    return rows


def report_grow(rows, print_fn=print):
    """The ``--grow`` table."""
    print_fn("\n#### Adding one expert: fit times of UniversalGate(calibration='affine') "
             "with and without memory (one process)\n")
    table = [{"n": f"{r['n']} + 1", "inputs": f"{r['gate_inputs']:,}",
              "plain": f"{r['plain_s']:.1f} s", "first": f"{r['first_s']:.1f} s",
              "grow": f"{r['grow_s']:.1f} s", "again": f"{r['again_s']:.1f} s",
              "ratio": f"{r['grow_s'] / r['plain_s']:.2f}",
              "same": str(r.get("same", "-"))} for r in rows]
    print_fn(format_table(table, ["n", "inputs", "plain", "first", "grow", "again", "ratio",
                                  "same"],
                          headers=["experts", "gate inputs", "fit without memory",
                                   "with memory: first fit (n)", "refit after adding one",
                                   "refit, nothing new", "refit / without memory",
                                   "same predictions"]))

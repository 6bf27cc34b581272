"""``bench perf``: every gate's predict overhead, time and memory against N, fit time, the
cost of an augmented pass, and fast routing's speed-up and routing against its teacher."""

import multiprocessing
import pickle
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from .. import MixtureOfExperts
from ..experts import Expert
from ..gates import AugmentedGate, FastRouter, NaiveConcatGate, PANGate, SoftMoE, UniversalGate
from ..utils._seeding import torch_seeded
from ._evaluate import format_table
from ._pan import PAPER_PAN
from ._problems import make_problem, trained_experts
from ._timing import predict_overhead

#: the gates measured, by name (the router's teacher is the fitted "universal")
GATES = ("energy", "augmented", "pan", "soft", "universal", "router")


def _gate(name, device):
    return {
        "energy": lambda: NaiveConcatGate(),
        "augmented": lambda: AugmentedGate(random_state=0),
        "pan": lambda: PANGate(device=device, random_state=0, **PAPER_PAN),
        "soft": lambda: SoftMoE(device=device, random_state=0),
        "universal": lambda: UniversalGate(random_state=0),
    }[name]()


def _experts(problem, *, trained, cache_dir, device):
    """Frozen experts: trained (or from the cache), or freshly initialised (time and memory
    do not depend on the weights)."""
    if trained:
        experts = trained_experts(problem, cache_dir=cache_dir)
    else:
        with torch_seeded(0):
            experts = [(name, expert.initialize()) for name, expert in problem.experts]
    return [(name, Expert.from_pretrained(
        expert.module_, classes=expert.classes, input_transform=expert.input_transform,
        iterator_valid__batch_size=512, device=device)) for name, expert in experts]


# -- peak memory, each measurement in a fresh process -------------------------------------
def _status(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _memory_child(payload, n_samples, repeats, queue):
    """Predict ``n_samples`` rows in this (fresh) process: seconds, and the peak memory
    above what the process held with ``X`` allocated."""
    torch.set_num_threads(1)
    moe, X = pickle.loads(payload)
    X = np.ascontiguousarray(np.resize(X, (n_samples, *X.shape[1:])), dtype=np.float32)
    moe.predict(X[:64])  # warm-up: kernels, lazy buffers
    exact = Path("/proc/self/clear_refs").exists()
    if exact:  # Linux: reset the peak resident size, then read it after predict
        Path("/proc/self/clear_refs").write_text("5")
        before = _status("VmRSS")
    else:  # elsewhere: the process's lifetime peak, an upper bound
        before = 0
    gpu = torch.cuda.is_initialized()  # the warm-up put the experts' modules on a GPU
    if gpu:  # the process's resident size does not hold GPU memory: torch counts it
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        gpu_before = torch.cuda.memory_allocated()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        moe.predict(X)  # returns NumPy arrays: the GPU's work is done when it returns
        times.append(time.perf_counter() - start)
    if exact:
        peak = _status("VmHWM") - before
    else:
        scale = 1 if sys.platform == "darwin" else 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    result = {"predict_s": float(np.median(times)), "peak_mb": peak / 2**20,
              "exact_peak": exact}
    if gpu:
        torch.cuda.synchronize()
        result["gpu_peak_mb"] = (torch.cuda.max_memory_allocated() - gpu_before) / 2**20
    queue.put(result)


def measure_memory(moe, X, n_samples, *, repeats=1):
    """Time and peak memory of ``moe.predict`` on ``n_samples`` rows (``X`` repeated), in a
    fresh process so that no earlier allocation hides or inflates the peak."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_memory_child,
                            args=(pickle.dumps((moe, X[:1000])), n_samples, repeats, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


# -- one problem ------------------------------------------------------------------------
def run_perf(problem_name, *, data_dir=None, cache_dir=None, trained=True, device="cpu",
             sizes=(1_000, 10_000, 100_000), n_overhead=10_000, n_fit=None, repeats=5,
             gates=GATES, random_samples=None, print_fn=None):
    """Every gate of :data:`GATES` on one problem's experts.

    Returns a dict with, per gate, the fit time, the overhead ratio of ``predict`` over
    the experts' own forward passes (medians of ``repeats`` interleaved runs at
    ``n_overhead`` samples) and, per size in ``sizes``, the predict time and the peak
    memory beyond ``X``; the augmented gate's cost per pass; the router's routing and
    its teacher's. With ``random_samples``, the problem's archives are that many random
    images each (``make_problem``), and no data is read.
    """
    log = print_fn or (lambda message: None)
    problem = make_problem(problem_name, 0, data_dir=data_dir, random_samples=random_samples)
    experts = _experts(problem, trained=trained, cache_dir=cache_dir, device=device)
    # random rows, not the first ones: a problem's arrays may hold one source after the
    # other (MNIST + CIFAR-10's first 10,000 test images are all MNIST)
    rng = np.random.default_rng(0)
    fit_rows = train_rows = slice(None)
    if n_fit is not None:
        fit_rows = rng.permutation(len(problem.X_gate))[:n_fit]
        train_rows = rng.permutation(len(problem.X_train))[:n_fit]
    X_fit, y_fit = problem.X_gate[fit_rows], problem.y_gate[fit_rows]
    X_pool = problem.X_test[rng.permutation(len(problem.X_test))]
    X_test = np.resize(X_pool, (max(n_overhead, 1), *problem.X_test.shape[1:]))
    X_test = np.ascontiguousarray(X_test, dtype=np.float32)
    result = {"problem": problem_name, "device": device, "trained": trained,
              "threads": torch.get_num_threads(), "n_overhead": len(X_test), "gates": {}}
    fitted = {}
    for name in gates:
        log(f"{problem_name}: fitting {name} ...")
        start = time.perf_counter()
        if name == "router":  # learns its fitted teacher from unlabelled inputs
            teacher = fitted.get("universal") or MixtureOfExperts(
                experts, gate=_gate("universal", device)).fit(X_fit, y_fit)
            gate = FastRouter(FrozenEstimator(teacher.gate_), device=device, random_state=0)
            moe = MixtureOfExperts(experts, gate=gate).fit(
                np.concatenate([problem.X_train[train_rows], X_fit]))
        else:
            moe = MixtureOfExperts(experts, gate=_gate(name, device)).fit(X_fit, y_fit)
        fit_s = time.perf_counter() - start
        fitted[name] = moe
        log(f"{problem_name}: timing {name} ...")
        entry = {"fit_s": fit_s, **predict_overhead(moe, X_test, repeats=repeats)}
        entry["sizes"] = {}
        for n in sizes:
            entry["sizes"][n] = measure_memory(moe, X_pool, n,
                                               repeats=1 if n > 10_000 else 3)
        result["gates"][name] = entry
    if "augmented" in fitted and "energy" in fitted:
        passes = len(fitted["augmented"].gate_.augmentations_)
        aug, plain = result["gates"]["augmented"], result["gates"]["energy"]
        result["augmented_pass"] = {
            "passes": passes,
            "per_pass_s": (aug["predict_s"] - plain["predict_s"]) / passes,
            "per_pass_over_forward": (aug["predict_s"] - plain["predict_s"]) / passes
            / plain["forward_s"],
        }
    if "router" in fitted:
        # each mixture routes the test inputs once (a route runs its experts or its router)
        teacher_route = fitted["universal"].route(problem.X_test)
        router_route = fitted["router"].route(problem.X_test)
        owners = fitted["router"].expert_set_.owners(problem.y_test)
        result["router"] = {
            "teacher_routing": float(np.mean(owners[np.arange(len(owners)), teacher_route])),
            "router_routing": float(np.mean(owners[np.arange(len(owners)), router_route])),
            "agreement": float(np.mean(router_route == teacher_route)),
            "speedup": result["gates"]["router"]["forward_s"]
            / result["gates"]["router"]["predict_s"],
        }
    return result


def report_perf(results, print_fn=print):
    """Print the tables of :func:`run_perf` results."""
    for result in results:
        print_fn(f"\n## {result['problem']} ({result['device']}, {result['threads']} threads, "
                 f"{'trained' if result['trained'] else 'untrained'} experts)\n")
        rows = [{"gate": name, "fit_s": g["fit_s"], "predict_s": g["predict_s"],
                 "forward_s": g["forward_s"], "ratio": g["ratio"]}
                for name, g in result["gates"].items()]
        print_fn(f"Predict over the experts' forward passes, N = {result['n_overhead']}:\n")
        print_fn(format_table(rows, ["gate", "fit_s", "predict_s", "forward_s", "ratio"]))
        sizes = sorted({n for g in result["gates"].values() for n in g["sizes"]})
        rows = []
        for name, g in result["gates"].items():
            row = {"gate": name}
            for n in sizes:
                row[f"s@{n}"] = g["sizes"][n]["predict_s"]
                row[f"MB@{n}"] = g["sizes"][n]["peak_mb"]
                if "gpu_peak_mb" in g["sizes"][n]:  # GPU memory, beside the process's
                    row[f"GPU MB@{n}"] = g["sizes"][n]["gpu_peak_mb"]
            if len(sizes) > 1:
                row["MB growth"] = g["sizes"][sizes[-1]]["peak_mb"] - \
                    g["sizes"][sizes[-2]]["peak_mb"]
            rows.append(row)
        print_fn("\nPredict time (s) and peak memory beyond X (MB; on a GPU also the peak "
                 "of torch's GPU allocations) against N:\n")
        print_fn(format_table(rows, list(rows[0])))
        if "augmented_pass" in result:
            a = result["augmented_pass"]
            print_fn(f"\nAugmented gate: {a['passes']} passes beyond the plain one, "
                     f"{a['per_pass_s']:.3f} s each at N = {result['n_overhead']} "
                     f"({a['per_pass_over_forward']:.2f} x the experts' forward passes)")
        if "router" in result:
            r = result["router"]
            print_fn(f"\nFastRouter: routing {r['router_routing']:.4f} against its teacher's "
                     f"(UniversalGate) {r['teacher_routing']:.4f}, agreement "
                     f"{r['agreement']:.4f}; predict {1 / r['speedup']:.3f} x the experts' "
                     f"forward passes (speed-up {r['speedup']:.2f})")

"""Time a mixture's predict against its experts' own forward passes, in the same run."""

import time

import numpy as np
import torch

from ..utils._evaluation import timed


def _expert_passes(experts, X, batch_size, *, transform):
    """Each expert's module over ``X`` in batches, in inference mode.

    With ``transform=False`` the inputs are converted to each expert's format
    beforehand and the conversion is not timed: the bare forward passes.
    """
    if not transform:
        inputs = []
        with torch.inference_mode():
            for expert in experts:
                x = torch.from_numpy(X).to(expert.device)
                inputs.append(expert.input_transform(x) if expert.input_transform else x)
    synchronize_gpus()  # the conversion's kernels are not timed
    start = time.perf_counter()
    with torch.inference_mode():
        for k, expert in enumerate(experts):
            module = expert.module_.eval()
            for lo in range(0, len(X), batch_size):
                if transform:
                    x = torch.from_numpy(X[lo : lo + batch_size]).to(expert.device)
                    if expert.input_transform is not None:
                        x = expert.input_transform(x)
                else:
                    x = inputs[k][lo : lo + batch_size]
                module(x)
    synchronize_gpus()  # GPU kernels run asynchronously: wait for the last batch's
    return time.perf_counter() - start


def _module_calls(experts, X, batch_size):
    """Seconds spent in the experts' modules alone: each batch is converted to the expert's
    format untimed, just before the module runs on it (so it is in the cache), and only the
    module call is timed."""
    total = 0.0
    with torch.inference_mode():
        for expert in experts:
            module = expert.module_.eval()
            for lo in range(0, len(X), batch_size):
                x = torch.from_numpy(X[lo : lo + batch_size]).to(expert.device)
                if expert.input_transform is not None:
                    x = expert.input_transform(x)
                _synchronize(x)
                start = time.perf_counter()
                _synchronize(module(x))
                total += time.perf_counter() - start
    return total


def synchronize_gpus():
    """Wait until every GPU has run its queued kernels (nothing before CUDA is initialised):
    CUDA runs them asynchronously, so a clock stopped without it times their launch only."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _synchronize(tensor):
    if tensor.is_cuda:
        torch.cuda.synchronize(tensor.device)
    return tensor


def predict_overhead(moe, X, *, repeats=5):
    """Median seconds of ``moe.predict(X)`` and of the experts' own forward passes.

    The five measurements are interleaved, ``repeats`` times, in one process,
    so that machine noise affects them alike. The experts' batch size is the
    one the mixture uses (``iterator_valid__batch_size`` or ``batch_size``).

    Returns
    -------
    result : dict
        ``predict_s``; ``predict_parallel_s``, the same mixture with
        ``n_jobs=-1`` (the experts at the same time); ``modules_s``, the time
        inside the experts' modules alone (each batch converted untimed just
        before); ``forward_s``, bare forward passes on inputs already in each
        expert's format (converted beforehand); ``forward_transform_s``,
        forward passes including each expert's input transform; and the ratios
        ``ratio_parallel`` = predict_parallel / predict, ``ratio_modules`` =
        predict / modules, ``ratio`` = predict / forward and
        ``ratio_transform`` = predict / forward_transform.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    experts = moe.experts_
    batch_size = experts[0]._inference_batch_size() or len(X)
    times = {"predict_s": [], "predict_parallel_s": [], "modules_s": [], "forward_s": [],
             "forward_transform_s": []}
    n_jobs = moe.n_jobs
    for setting in (-1, n_jobs):  # warm-up
        moe.set_params(n_jobs=setting).predict(X[:batch_size])
    for _ in range(repeats):
        times["predict_s"].append(timed(moe.predict, X)[1])
        try:
            moe.set_params(n_jobs=-1)
            times["predict_parallel_s"].append(timed(moe.predict, X)[1])
        finally:
            moe.set_params(n_jobs=n_jobs)
        times["modules_s"].append(_module_calls(experts, X, batch_size))
        times["forward_s"].append(_expert_passes(experts, X, batch_size, transform=False))
        times["forward_transform_s"].append(_expert_passes(experts, X, batch_size, transform=True))
    result = {key: float(np.median(values)) for key, values in times.items()}
    result["ratio_modules"] = result["predict_s"] / result["modules_s"]
    result["ratio"] = result["predict_s"] / result["forward_s"]
    result["ratio_transform"] = result["predict_s"] / result["forward_transform_s"]
    result["ratio_parallel"] = result["predict_parallel_s"] / result["predict_s"]
    result["n_samples"] = len(X)
    result["batch_size"] = batch_size
    return result


def run_timing(problem_name, *, data_dir=None, n_samples=10_000, repeats=7, seed=0):
    """Predict overhead of a mixture of untrained LeNet-5 experts on one problem's test inputs.

    Time does not depend on the weights, so the experts are freshly initialised
    (nothing is trained) and frozen, with the problem's input transforms.
    """
    from .. import MixtureOfExperts
    from ..experts import Expert
    from ._problems import make_problem

    problem = make_problem(problem_name, seed, data_dir=data_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        experts = [
            (name, Expert.from_pretrained(
                expert.initialize().module_, classes=expert.classes,
                input_transform=expert.input_transform, iterator_valid__batch_size=512))
            for name, expert in problem.experts
        ]
    moe = MixtureOfExperts(experts).fit(problem.X_test[:1])
    rng = np.random.default_rng(seed)
    X = problem.X_test[rng.permutation(len(problem.X_test))[:n_samples]]
    result = predict_overhead(moe, X, repeats=repeats)
    result["problem"] = problem_name
    result["threads"] = torch.get_num_threads()
    return result

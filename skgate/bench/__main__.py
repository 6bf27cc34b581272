"""``python -m skgate bench BENCH [options]``: the benches of the benchmarks page.

Reproduces the papers' tables on the real images of ``SKGATE_DATA_DIR`` and prints Markdown
tables (mean ± std over seeds) next to the papers' numbers; ``bench data`` builds that folder.
The parser (:mod:`skgate.bench._cli`) imports no torch, and neither does this module before a
bench runs, so that ``--help`` answers at once.
"""

import json
import os
import sys

from ._cli import PROBLEMS, bench_parser

#: the benches that read no data folder (``universal --merge`` and ``perf --smoke`` neither)
NO_DATA = ("data",)


def report_naive(results, print_fn=print):
    """Print the Table 2 reproduction from the per-seed results of :func:`run_naive`."""
    from ._evaluate import format_table, mean_std
    from ._naive import PAPER_TABLE2

    for problem in PROBLEMS:
        runs = [r for r in results if r["problem"] == problem]
        if not runs:
            continue
        seeds = [r["seed"] for r in runs]
        print_fn(f"\n### {problem} (seeds {seeds})\n")
        names = list(runs[0]["experts"])
        print_fn("experts on their own test parts: " + ", ".join(
            f"{n} {mean_std([r['experts'][n] for r in runs])}" for n in names))
        train_s = mean_std([r["train_s"] for r in runs])
        print_fn(f"expert training (or cache loading) time: {train_s} s\n")
        rows = []
        for i, row in enumerate(runs[0]["gates"]):
            gate = row["gate"]
            rows.append({
                "statistic": gate,
                "accuracy": mean_std([r["gates"][i]["accuracy"] for r in runs]),
                "routing": mean_std([r["gates"][i]["routing"] for r in runs]),
                "paper": f"{PAPER_TABLE2[problem][gate]:.4f}" if gate in PAPER_TABLE2[problem]
                else "-",
            })
        print_fn(format_table(rows, ["statistic", "accuracy", "routing", "paper"],
                              headers=["statistic", "accuracy", "routing accuracy",
                                       "paper accuracy"]))
        t = [r["timing"] for r in runs]
        print_fn(
            f"\npredict over {t[0]['n_samples']} inputs (batch {t[0]['batch_size']}, median of "
            f"repeats): {mean_std([x['predict_s'] for x in t])} s; experts' bare forward "
            f"passes {mean_std([x['forward_s'] for x in t])} s; with their input transforms "
            f"{mean_std([x['forward_transform_s'] for x in t])} s.\n"
            f"ratio predict / forward: {mean_std([x['ratio'] for x in t])}; "
            f"predict / (forward + transforms): {mean_std([x['ratio_transform'] for x in t])}"
        )


def _needs_data(ns):
    return not (ns.table in NO_DATA or (ns.table == "perf" and ns.smoke)
                or (ns.table in ("universal", "zoo") and ns.merge))


def _data_dir_problem(data_dir):
    """What is wrong with the data folder, in one line, or None."""
    if data_dir is None and not os.environ.get("SKGATE_DATA_DIR"):
        return ("no data folder: set SKGATE_DATA_DIR (or pass --data-dir) to a folder of the "
                ".npz archives, which `python -m skgate bench data --out DIR` builds")
    folder = data_dir or os.environ["SKGATE_DATA_DIR"]
    if not os.path.isdir(folder):
        return (f"the data folder {folder!r} does not exist; `python -m skgate bench data "
                f"--out {folder}` builds it")
    return None


def main(argv=None):
    """Run one bench (see ``python -m skgate bench --help``).

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after ``bench`` (default: the command line's).

    Returns
    -------
    status : int
        0 on success; 2 when the data folder is missing or lacks a file (one line on stderr).
    """
    return run(bench_parser().parse_args(argv))


def run(ns, prog="python -m skgate bench"):
    """Run the bench of parsed arguments ``ns`` (see :func:`main`).

    Parameters
    ----------
    ns : argparse.Namespace
        The arguments parsed by :func:`skgate.bench._cli.bench_parser`.
    prog : str, default="python -m skgate bench"
        The command's name in error messages.

    Returns
    -------
    status : int
    """
    if _needs_data(ns):
        problem = _data_dir_problem(ns.data_dir)
        if problem:
            print(f"{prog}: error: {problem}", file=sys.stderr)
            return 2
    try:
        return _run(ns)
    except FileNotFoundError as exc:  # load_npz: "No file 'x.npz' in ..., .npz files present"
        if ns.table in NO_DATA or not str(exc).startswith("No file "):
            raise
        print(f"{prog}: error: {exc} `python -m skgate bench data --out DIR` builds the four "
              "archives.", file=sys.stderr)
        return 2


def _run(ns):
    if ns.table == "data":
        return _data(ns)
    if ns.table == "perf":
        return _perf(ns)
    if ns.table == "universal":
        return _universal(ns)
    if ns.table == "zoo":
        return _zoo(ns)
    if ns.table == "soft":
        from ._soft import report_soft, run_soft

        results = run_soft(seeds=ns.seeds, data_dir=ns.data_dir, max_epochs=ns.epochs or 20,
                           print_fn=lambda m: print(m, file=sys.stderr, flush=True))
        report_soft(results, figure=ns.figure)
        _dump(results, ns.out)
        return 0
    if ns.table == "fusion":
        from ._fusion import EXPERT_SETS, report_fusion, run_fusion

        results = run_fusion(seeds=ns.seeds, data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                             epochs=ns.epochs, verbose=1,
                             representations=EXPERT_SETS[ns.representations],
                             softmoe_rows=ns.rows,
                             print_fn=lambda m: print(m, file=sys.stderr, flush=True))
        report_fusion(results)
        _dump(results, ns.out)
        return 0
    if ns.table == "timing":
        from ._timing import run_timing

        results = [run_timing(p, data_dir=ns.data_dir, repeats=ns.repeats) for p in ns.problems]
        report_timing(results)
        _dump(results, ns.out)
        return 0
    ns.epochs = ns.epochs or 10
    if ns.table in ("augmented", "pan"):
        from ._augmented import report_augmented, run_augmented
        from ._pan import report_pan, run_pan

        run, report = {"augmented": (run_augmented, report_augmented),
                       "pan": (run_pan, report_pan)}[ns.table]
        if ns.table == "pan" and ns.variants:
            from ._pan import report_pan_variants, run_pan_variants

            run, report = run_pan_variants, report_pan_variants
        if ns.table == "pan" and ns.defaults:
            from ._pan_defaults import DEFAULTS_PROBLEMS, report_pan_defaults, run_pan_defaults

            run, report, ns.problems = run_pan_defaults, report_pan_defaults, DEFAULTS_PROBLEMS
        results = []
        for problem in ns.problems:
            for seed in ns.seeds:
                print(f"{problem}, seed {seed} ...", file=sys.stderr, flush=True)
                results.append(run(problem, seed, data_dir=ns.data_dir, max_epochs=ns.epochs,
                                   cache_dir=ns.cache_dir))
        report(results)
        _dump(results, ns.out)
        return 0
    from ._naive import run_naive

    results = []
    for problem in ns.problems:
        for seed in ns.seeds:
            print(f"{problem}, seed {seed} ...", file=sys.stderr, flush=True)
            result = run_naive(problem, seed, data_dir=ns.data_dir, max_epochs=ns.epochs,
                               cache_dir=ns.cache_dir)
            results.append({k: v for k, v in result.items()
                            if k not in ("moe", "problem_data")})
    report_naive(results)
    _dump(results, ns.out)
    return 0


def _perf(ns):
    from ..gates._base import resolve_device
    from ._perf import report_perf, run_perf

    device = resolve_device(ns.device, "bench perf")
    options = dict(sizes=ns.sizes, repeats=ns.repeats)
    if ns.smoke:
        options = dict(sizes=[200, 400], repeats=1, n_overhead=200, n_fit=300, trained=False)
        if _data_dir_problem(ns.data_dir):  # no data: random images of the archives' formats
            print("bench perf --smoke: no data folder, on random images", file=sys.stderr)
            options["random_samples"] = 600
    results = [run_perf(problem, data_dir=ns.data_dir, cache_dir=ns.cache_dir, device=device,
                        print_fn=lambda m: print(m, file=sys.stderr, flush=True), **options)
               for problem in ns.problems]
    report_perf(results)
    _dump(results, ns.out)
    return 0


def _data(ns):
    from ._data import DatasetNotFoundError, build_archives

    try:
        build_archives(ns.out, root=ns.root, download=not ns.no_download,
                       datasets=ns.datasets,
                       print_fn=lambda m: print(m, file=sys.stderr, flush=True))
    except DatasetNotFoundError as exc:
        print(f"python -m skgate bench data: error: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote the archives to {ns.out}; set SKGATE_DATA_DIR={ns.out} to run the benches.")
    return 0


def _universal(ns):
    from ._problems import TRANSFER_PROBLEMS
    from ._universal import report_universal, run_universal, train_pretrained

    def log(message):
        print(message, file=sys.stderr, flush=True)

    if ns.floor is not None:
        from ._universal import run_floor

        problems = ns.floor or ["mlp_lenet_mnist", "cifar10_split", "three_experts"]
        results = run_floor(problems, ns.seeds, data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                            draws=ns.draws, print_fn=log)
        report_universal(results)
        _dump(results, ns.out)
        return 0
    if ns.pool or ns.pool_memory:
        from ._pool import merge_pool_runs, report_pool, run_pool

        if ns.pool_memory:
            from ._pool import measure_pool_fit, report_pool_fit

            results = [r for problem in ("disjoint_mnist", "mnist_cifar10") for r in
                       measure_pool_fit(problem, ns.seeds[0], data_dir=ns.data_dir,
                                        cache_dir=ns.cache_dir)]
            report_pool_fit(results)
            _dump(results, ns.out)
            return 0
        if ns.merge:  # the tables of runs made apart (one seed each, say), from their --out
            report_pool(merge_pool_runs(ns.merge))
            return 0
        from ._pool import POOL_PROBLEMS
        from ._problems import HELDOUT_PROBLEMS

        results = run_pool(HELDOUT_PROBLEMS if ns.heldout else POOL_PROBLEMS, seeds=ns.seeds,
                           data_dir=ns.data_dir, cache_dir=ns.cache_dir, draws=ns.draws,
                           rows=ns.rows, print_fn=log)
        report_pool(results)
        _dump(results, ns.out)
        return 0
    if ns.train_pretrained:
        if ns.weights is None:  # never the installed package's own file by default
            raise SystemExit(
                "bench universal --train-pretrained needs --weights PATH, the file to write "
                "the correction to (to replace the shipped correction, name "
                "skgate/gates/_data/universal_pretrained.json in a clone).")
        train_pretrained(ns.weights, data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                         seeds=ns.seeds, print_fn=log)
        return 0
    results = run_universal(ns.seeds, data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                            transfer_problems=TRANSFER_PROBLEMS, budget=not ns.no_budget,
                            draws=ns.draws, print_fn=log)
    report_universal(results)
    _dump(results, ns.out)
    return 0


def _zoo(ns):
    from ._cli import ZOO_SIZES
    from ._zoo import merge_zoo_runs, report_zoo, run_zoo

    def log(message):
        print(message, file=sys.stderr, flush=True)

    if ns.memory or ns.grow:
        from ._zoo_scale import report_grow, report_memory, run_grow, run_memory

        results = {}
        if ns.memory:
            results["memory"] = [run_memory(n, ns.seeds[0], inputs=ns.inputs,
                                            data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                                            print_fn=log) for n in ns.sizes or [20]]
            for result in results["memory"]:
                report_memory(result)
        if ns.grow:
            results["grow"] = run_grow(ns.sizes or [10, 20], ns.seeds[0],
                                       data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                                       print_fn=log)
            report_grow(results["grow"])
        _dump(results, ns.out)
        return 0
    if ns.merge:
        results = merge_zoo_runs(ns.merge)
    else:
        results = run_zoo(ns.sizes or ZOO_SIZES, ns.seeds, data_dir=ns.data_dir,
                          cache_dir=ns.cache_dir, rows=ns.rows, print_fn=log)
        _dump(results, ns.out)
    report_zoo(results)
    if ns.figure:
        from ._zoo import plot_zoo

        plot_zoo(results, ns.figure)
    return 0


def _dump(results, path):
    if path:
        with open(path, "w") as fh:
            json.dump(results, fh, indent=1)


def report_timing(results, print_fn=print):
    """Print the predict-overhead table of :func:`run_timing` results."""
    from ._evaluate import format_table

    rows = [{
        "problem": r["problem"],
        "predict": f"{r['predict_s']:.3f} s",
        "modules": f"{r['modules_s']:.3f} s",
        "forward": f"{r['forward_s']:.3f} s",
        "forward_t": f"{r['forward_transform_s']:.3f} s",
        "ratio_m": f"{r['ratio_modules']:.3f}",
        "ratio": f"{r['ratio']:.3f}",
        "ratio_t": f"{r['ratio_transform']:.3f}",
        "parallel": f"{r['predict_parallel_s']:.3f} s",
        "ratio_p": f"{r['ratio_parallel']:.3f}",
    } for r in results]
    r0 = results[0]
    print_fn(f"\n{r0['n_samples']} inputs, batch {r0['batch_size']}, {r0['threads']} torch "
             "threads, median of the repeats, measured interleaved in one process\n")
    print_fn(format_table(
        rows, ["problem", "predict", "modules", "forward", "forward_t", "ratio_m", "ratio",
               "ratio_t", "parallel", "ratio_p"],
        headers=["problem", "mixture predict", "experts' modules alone",
                 "experts' forward passes", "forward + input transforms",
                 "predict / modules", "predict / forward", "predict / (forward + transforms)",
                 "predict, n_jobs=-1", "n_jobs=-1 / predict"]))


if __name__ == "__main__":
    sys.exit(main())

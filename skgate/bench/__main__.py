"""``python -m skgate bench <table> [--seeds 0 1 2] [--data-dir DIR] [--out FILE]``.

Reproduces the papers' tables on the real images of ``SKGATE_DATA_DIR`` and
prints Markdown tables (mean ± std over seeds) next to the papers' numbers.
"""

import argparse
import json
import sys

from ._evaluate import format_table, mean_std
from ._naive import PAPER_TABLE2, run_naive
from ._problems import PROBLEMS
from ._timing import run_timing


def report_naive(results, print_fn=print):
    """Print the Table 2 reproduction from the per-seed results of :func:`run_naive`."""
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skgate bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=["naive", "augmented", "pan", "timing", "soft",
                                          "fusion", "universal", "perf"],
                        help="naive: Table 2 (data-free statistics); augmented: Table 3 "
                        "(test-time augmentation); pan: Tables 4 and 5 (one attribution "
                        "network per expert); timing: predict time of the mixture over its "
                        "experts' own forward passes; soft: the soft-mixture paper's "
                        "MNIST + CIFAR-10 experiment (SoftMoE); fusion: the adaptive-fusion "
                        "paper's protocol (SoftMoE over frozen representations); universal: "
                        "Table 6 (UniversalGate transfer), new expert sets and the "
                        "data-budget curve; perf: every gate's predict overhead, time and "
                        "peak memory against N, fit time, the cost of an augmented pass and "
                        "fast routing")
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data-dir", default=None, help="default: $SKGATE_DATA_DIR")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: 10 for experts; soft: 20)")
    parser.add_argument("--cache-dir", default=None,
                        help="keep trained experts here and reuse them (default: "
                        "$SKGATE_CACHE_DIR, or no cache)")
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (median)")
    parser.add_argument("--out", default=None, help="write the per-seed results as JSON")
    parser.add_argument("--figure", default=None, help="soft: save the accuracy curves (PNG)")
    parser.add_argument("--representations", choices=["same_task", "split_task"],
                        default="same_task",
                        help="fusion: the experts fused (same_task: LeNet-5, SmallResNet and "
                        "MLP trained on all ten classes; split_task: SmallResNets trained on "
                        "classes 0-4 and on 5-9, and LeNet-5)")
    parser.add_argument("--rows", nargs="+", default=None, metavar="PATTERN",
                        help="fusion: only the SoftMoE rows whose label contains one of these "
                        "strings (case-insensitive), for example --rows embedding to leave "
                        "out the slow thumbnail CNN gate; universal --pool: only the gates "
                        "whose name contains one (energy is always measured) (default: every "
                        "row)")
    parser.add_argument("--variants", action="store_true",
                        help="pan: only the fallback rule and independent networks "
                        "(negatives from other data), not the paper's tables")
    parser.add_argument("--train-pretrained", action="store_true",
                        help="universal: fit the shipped correction on the gate data of both "
                        "problems for --seeds and write it (see --weights)")
    parser.add_argument("--weights", default=None,
                        help="universal --train-pretrained: where to write the correction "
                        "(default: the file shipped in skgate/gates/_data)")
    parser.add_argument("--no-budget", action="store_true",
                        help="universal: only the transfer rows, not the data-budget curve")
    parser.add_argument("--floor", nargs="*", default=None, metavar="PROBLEM",
                        help="universal: only the budget rows of PANGate and SoftMoE with and "
                        "without an energy floor (FloorGate), on these problems (default: "
                        "mlp_lenet_mnist cifar10_split three_experts)")
    parser.add_argument("--pool", action="store_true",
                        help="universal: the label budget with the rest of the gate data as "
                        "an unlabelled pool, on all six expert sets")
    parser.add_argument("--heldout", action="store_true",
                        help="universal --pool: on the three held-out expert sets "
                        "(mnist_even_odd cifar_vehicles_animals four_experts), on which no "
                        "setting of the pool was chosen, instead of the six")
    parser.add_argument("--pool-memory", action="store_true",
                        help="universal: the fit time and peak memory of "
                        "UniversalGate() with pools of 10,000 and 100,000 inputs")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="universal --pool: report the runs saved with --out (for "
                        "example one per seed, run side by side) as one; a later file's "
                        "rows replace an earlier one's for the same set, seed, k and gate "
                        "(a rerun of some gates with --rows)")
    parser.add_argument("--draws", type=int, default=3,
                        help="universal: random draws of the labelled examples per budget")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000],
                        help="perf: numbers of samples of the time and memory rows")
    parser.add_argument("--device", default="cpu",
                        help="perf: cpu, cuda or auto (CUDA when available)")
    parser.add_argument("--smoke", action="store_true",
                        help="perf: a quick run on untrained experts and a few hundred "
                        "samples, to check the command (the figures mean nothing)")
    ns = parser.parse_args(argv)
    if ns.table == "perf":
        return _perf(ns)
    if ns.table == "universal":
        return _universal(ns)
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
    ns.epochs = ns.epochs or 10
    if ns.table == "timing":
        results = [run_timing(p, data_dir=ns.data_dir, repeats=ns.repeats) for p in ns.problems]
        report_timing(results)
        _dump(results, ns.out)
        return 0
    if ns.table in ("augmented", "pan"):
        from ._augmented import report_augmented, run_augmented
        from ._pan import report_pan, run_pan

        run, report = {"augmented": (run_augmented, report_augmented),
                       "pan": (run_pan, report_pan)}[ns.table]
        if ns.table == "pan" and ns.variants:
            from ._pan import report_pan_variants, run_pan_variants

            run, report = run_pan_variants, report_pan_variants
        results = []
        for problem in ns.problems:
            for seed in ns.seeds:
                print(f"{problem}, seed {seed} ...", file=sys.stderr, flush=True)
                results.append(run(problem, seed, data_dir=ns.data_dir, max_epochs=ns.epochs,
                                   cache_dir=ns.cache_dir))
        report(results)
        _dump(results, ns.out)
        return 0
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
    results = [run_perf(problem, data_dir=ns.data_dir, cache_dir=ns.cache_dir, device=device,
                        print_fn=lambda m: print(m, file=sys.stderr, flush=True), **options)
               for problem in ns.problems]
    report_perf(results)
    _dump(results, ns.out)
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
        from ..gates._universal import _pretrained_path

        train_pretrained(ns.weights or str(_pretrained_path()), data_dir=ns.data_dir,
                         cache_dir=ns.cache_dir, seeds=ns.seeds, print_fn=log)
        return 0
    results = run_universal(ns.seeds, data_dir=ns.data_dir, cache_dir=ns.cache_dir,
                            transfer_problems=TRANSFER_PROBLEMS, budget=not ns.no_budget,
                            draws=ns.draws, print_fn=log)
    report_universal(results)
    _dump(results, ns.out)
    return 0


def _dump(results, path):
    if path:
        with open(path, "w") as fh:
            json.dump(results, fh, indent=1)


def report_timing(results, print_fn=print):
    """Print the predict-overhead table of :func:`run_timing` results."""
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

"""The ``bench`` command line: one subcommand per bench, each with its own options.

This module imports neither torch nor the benches, so that ``--help`` answers at once.
"""

import argparse

# the problems' names (skgate.bench._problems holds the problems themselves)
PROBLEMS = ("disjoint_mnist", "mnist_cifar10")
TRANSFER_PROBLEMS = ("mlp_lenet_mnist", "mnist_3_7", "cifar10_split", "three_experts")
HELDOUT_PROBLEMS = ("mnist_even_odd", "cifar_vehicles_animals", "four_experts")
#: the model zoos' sizes (numbers of experts) and names
ZOO_SIZES = (2, 4, 6, 10, 20)
ZOO_PROBLEMS = tuple(f"zoo{n}" for n in ZOO_SIZES)

DESCRIPTION = """\
Reproduce the papers' tables on the real MNIST and CIFAR-10 images of a data folder
(--data-dir, default: the SKGATE_DATA_DIR environment variable), and print Markdown tables
(mean +- std over seeds) beside the papers' numbers. "bench data" builds that folder from
torchvision's datasets; "bench perf --smoke" needs no data.
"""

#: bench -> one line of help (the order of ``--help``)
BENCHES = {
    "data": "build the data folder's four .npz archives from torchvision's MNIST and CIFAR-10 "
            "(downloads them unless told not to)",
    "naive": "Table 2: the data-free statistics of NaiveConcatGate",
    "augmented": "Table 3: test-time augmentation (AugmentedGate)",
    "pan": "Tables 4 and 5: one attribution network per expert (PANGate)",
    "timing": "predict time of the mixture over its experts' own forward passes (no training)",
    "soft": "the soft-mixture paper's MNIST + CIFAR-10 experiment (SoftMoE)",
    "fusion": "the adaptive-fusion paper's protocol (SoftMoE over frozen representations)",
    "universal": "Table 6 (UniversalGate transfer), new expert sets and the data-budget curve",
    "zoo": "model zoos of 2 to 20 experts: every gate's routing, accuracy and fit time "
           "against the number of experts",
    "perf": "every gate's predict overhead, time and peak memory against N, fit time, the cost "
            "of an augmented pass and fast routing",
}


def _problems(parser):
    parser.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS),
                        help="the problems (default: both)")


def _seeds(parser):
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="seeds of the split, the initialisation and the shuffling "
                        "(default: 0 1 2)")


def _data_dir(parser):
    parser.add_argument("--data-dir", default=None,
                        help="folder of the .npz archives (default: $SKGATE_DATA_DIR)")


def _epochs(parser, default):
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs of the experts (default: {default})")


def _cache_dir(parser):
    parser.add_argument("--cache-dir", default=None,
                        help="keep trained experts here and reuse them (default: "
                        "$SKGATE_CACHE_DIR, or no cache)")


def _out(parser):
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="write the per-seed results as JSON")


def _repeats(parser, default):
    parser.add_argument("--repeats", type=int, default=default,
                        help=f"timing repeats, the median is kept (default: {default})")


def add_bench_commands(parser):
    """Add one subcommand per bench of :data:`BENCHES` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``bench`` parser; each subcommand's name is stored as ``table``.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    sub = parser.add_subparsers(dest="table", required=True, metavar="BENCH",
                                title="benches (python -m skgate bench BENCH --help for its "
                                "options)")

    def add(name):
        return sub.add_parser(name, help=BENCHES[name], description=BENCHES[name] + ".")

    p = add("data")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the folder to write the archives to (created if absent); then "
                   "set SKGATE_DATA_DIR=DIR")
    p.add_argument("--root", default=None,
                   help="torchvision's root folder: the datasets are read from there, or "
                   "downloaded to it (default: DIR/torchvision)")
    p.add_argument("--no-download", action="store_true",
                   help="do not download: fail if --root lacks a dataset")
    p.add_argument("--datasets", nargs="+", choices=["mnist", "cifar10"],
                   default=["mnist", "cifar10"],
                   help="only these datasets' archives (default: both)")

    for name in ("naive", "augmented", "pan"):
        p = add(name)
        _problems(p)
        _seeds(p)
        _data_dir(p)
        _epochs(p, 10)
        _cache_dir(p)
        _out(p)
        if name == "pan":
            which = p.add_mutually_exclusive_group()
            which.add_argument("--variants", action="store_true",
                               help="only the fallback rule and independent networks "
                               "(negatives from other data), not the paper's tables")
            which.add_argument("--defaults", action="store_true",
                               help="PANGate's defaults against the paper's settings, on "
                               "every expert set of the universal bench, with their cached "
                               "experts (--problems and --epochs are ignored)")

    p = add("timing")
    _problems(p)
    _data_dir(p)
    _repeats(p, 7)
    _out(p)

    p = add("soft")
    _seeds(p)
    _data_dir(p)
    _epochs(p, 20)
    _out(p)
    p.add_argument("--figure", default=None, help="save the accuracy curves (PNG)")

    p = add("fusion")
    _seeds(p)
    _data_dir(p)
    _epochs(p, 10)
    _cache_dir(p)
    _out(p)
    p.add_argument("--representations", choices=["same_task", "split_task"],
                   default="same_task",
                   help="the experts fused (same_task: LeNet-5, SmallResNet and MLP trained "
                   "on all ten classes; split_task: SmallResNets trained on classes 0-4 and "
                   "on 5-9, and LeNet-5)")
    p.add_argument("--rows", nargs="+", default=None, metavar="PATTERN",
                   help="only the SoftMoE rows whose label contains one of these strings "
                   "(case-insensitive), for example --rows embedding to leave out the slow "
                   "thumbnail CNN gate (default: every row)")

    p = add("universal")
    _seeds(p)
    _data_dir(p)
    _cache_dir(p)
    _out(p)
    p.add_argument("--train-pretrained", action="store_true",
                   help="fit the shared correction on the gate data of both problems for "
                   "--seeds and write it to --weights (required)")
    p.add_argument("--weights", default=None, metavar="PATH",
                   help="--train-pretrained: the file to write the correction to (no "
                   "default: the package's own file is never overwritten unless named)")
    p.add_argument("--no-budget", action="store_true",
                   help="only the transfer rows, not the data-budget curve")
    p.add_argument("--floor", nargs="*", default=None, metavar="PROBLEM",
                   help="only the budget rows of PANGate and SoftMoE with and without an "
                   "energy floor (FloorGate), on these problems (default: mlp_lenet_mnist "
                   "cifar10_split three_experts)")
    p.add_argument("--pool", action="store_true",
                   help="the label budget with the rest of the gate data as an unlabelled "
                   "pool, on all six expert sets")
    p.add_argument("--heldout", action="store_true",
                   help=f"--pool: on the three held-out expert sets ({' '.join(HELDOUT_PROBLEMS)}"
                   "), on which no setting of the pool was chosen, instead of the six")
    p.add_argument("--pool-memory", action="store_true",
                   help="the fit time and peak memory of UniversalGate() with pools of "
                   "10,000 and 100,000 inputs")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="--pool: report the runs saved with --out (for example one per seed, "
                   "run side by side) as one; a later file's rows replace an earlier one's "
                   "for the same set, seed, k and gate (a rerun of some gates with --rows); "
                   "needs no data")
    p.add_argument("--rows", nargs="+", default=None, metavar="PATTERN",
                   help="--pool: only the gates whose name contains one of these strings "
                   "(energy is always measured) (default: every gate)")
    p.add_argument("--draws", type=int, default=3,
                   help="random draws of the labelled examples per budget (default: 3)")

    p = add("zoo")
    _seeds(p)
    _data_dir(p)
    _cache_dir(p)
    _out(p)
    p.add_argument("--sizes", nargs="+", type=int, choices=ZOO_SIZES, default=None,
                   help="the zoos' numbers of experts (default: "
                   f"{' '.join(map(str, ZOO_SIZES))}; with --grow 10 20, with --memory 20)")
    p.add_argument("--memory", action="store_true",
                   help="only predict's peak memory beyond X and its time with the "
                   "experts of each zoo (energy gate), on --inputs inputs, each in a fresh "
                   "process, with n_jobs=None and n_jobs=2 (first seed only)")
    p.add_argument("--inputs", nargs="+", type=int, default=[10_000, 100_000],
                   help="--memory: the numbers of inputs (default: 10000 100000)")
    p.add_argument("--grow", action="store_true",
                   help="only the fit time of UniversalGate(calibration='affine') after "
                   "adding one expert to a fitted mixture of each zoo, with "
                   "MixtureOfExperts(memory=...) and without (first seed only)")
    p.add_argument("--rows", nargs="+", default=None, metavar="PATTERN",
                   help="only the rows whose name contains one of these strings (energy is "
                   "always measured) (default: every row)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="report the runs saved with --out (one per seed, say) as one; a "
                   "later file's rows replace an earlier one's for the same n, seed and row; "
                   "needs no data")
    p.add_argument("--figure", default=None, metavar="PNG",
                   help="save the routing of every row against the number of experts "
                   "(skgate.inspection.ExpertScalingDisplay)")

    p = add("perf")
    _problems(p)
    _data_dir(p)
    _cache_dir(p)
    _repeats(p, 7)
    _out(p)
    p.add_argument("--sizes", nargs="+", type=int, default=[1_000, 10_000, 100_000],
                   help="numbers of samples of the time and memory rows (default: 1000 "
                   "10000 100000)")
    p.add_argument("--device", default="cpu",
                   help="cpu, cuda or auto (CUDA when available) (default: cpu)")
    p.add_argument("--smoke", action="store_true",
                   help="a quick run on untrained experts and a few hundred images, to "
                   "check the command; needs no data: without a data folder, on random "
                   "images (the figures mean nothing)")
    return parser


def bench_parser(prog="python -m skgate bench"):
    """The ``bench`` argument parser.

    Parameters
    ----------
    prog : str, default="python -m skgate bench"
        The program name shown in the usage line.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_bench_commands(parser)

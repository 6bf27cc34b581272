"""Command line: ``python -m skgate demo`` and ``python -m skgate bench ...``."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train two experts on the embedded MNIST sample and "
                          "compare the data-free gates (no download)")
    demo.add_argument("--epochs", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    bench = sub.add_parser("bench", help="reproduce the papers' tables on SKGATE_DATA_DIR")
    bench.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    if ns.command == "demo":
        from ._demo import run_demo

        run_demo(max_epochs=ns.epochs, random_state=ns.seed)
    else:
        from .bench.__main__ import main as bench_main

        bench_main(ns.args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

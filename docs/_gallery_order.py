"""The gallery's order: from the simplest example to the most advanced.

sphinx-gallery sorts the examples with :class:`ExampleOrder` (``within_subsection_order`` in
``conf.py``); docs/index.md lists them in the same order (a test checks both).
"""

import os

#: the examples, simplest first
ORDER = (
    "plot_disjoint_mnist.py",  # a data-free gate over two experts
    "grid_search_gate.py",  # experts trained elsewhere, GridSearchCV over the gate
    "universal_gate_budget.py",  # learned gates against the number of labels
    "fuse_representations.py",  # SoftMoE over frozen representations
)


class ExampleOrder:
    """sphinx-gallery sort key: the place of an example in :data:`ORDER`.

    Parameters
    ----------
    src_dir : str
        The examples' folder (unused: the order does not depend on it).
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        if name not in ORDER:
            raise ValueError(f"{name} is not in docs/_gallery_order.py's ORDER: place it.")
        return ORDER.index(name)

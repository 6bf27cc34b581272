"""skorch callbacks for SoftMoE."""

import numpy as np
from skorch.callbacks import Callback

from ..utils._labels import encode_labels


class EpochTestScoring(Callback):
    """Record the mixture's accuracy on held-out data after every epoch.

    Give it to :class:`~skgate.gates.SoftMoE` in ``callbacks``; the score goes into the
    gate's ``history_`` under ``name`` (the second paper's test curves).

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Input in the mixture's format.
    y : array-like of shape (n_samples,)
        Labels in the mixture's label space.
    name : str, default="test_acc"

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.callbacks import EpochTestScoring
    >>> from skgate.gates import SoftMoE
    >>> from skgate.utils._testing import slice_expert
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)).astype(np.float32)
    >>> y = X.argmax(axis=1)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> gate = SoftMoE("linear", max_epochs=3, random_state=0,
    ...                callbacks=[EpochTestScoring(X[100:], y[100:])])
    >>> moe = MixtureOfExperts(experts, gate=gate).fit(X[:100], y[:100])
    >>> len(moe.gate_.history_[:, "test_acc"])  # one accuracy on X[100:] per epoch
    3
    """

    def __init__(self, X, y, name="test_acc"):
        self.X = X
        self.y = y
        self.name = name

    def bind(self, gate, expert_set):
        """Compute the net inputs once (called by the gate's
        :meth:`~skgate.gates.BaseGate.fit`).

        Parameters
        ----------
        gate : SoftMoE
            The gate being fitted.
        expert_set : ExpertSet
            Its experts, run once over ``X``.

        Returns
        -------
        self : EpochTestScoring
        """
        X = np.asarray(self.X, dtype=np.float32)
        if gate.gate_tags().trains_experts:  # the experts run inside the gate's network
            outputs = expert_set.inputs_only(X)
        else:
            outputs = expert_set.outputs(X, layers=gate.expert_layers())
        self.inputs_ = gate._inputs(outputs, y=self.y)
        self.target_ = encode_labels(np.asarray(self.y), gate.classes_)
        return self

    def on_epoch_end(self, net, **kwargs):
        if not hasattr(self, "inputs_"):
            return
        log_proba = net.forward(self.inputs_)[0]
        accuracy = float((log_proba.argmax(dim=1).numpy() == self.target_).mean())
        net.history.record(self.name, accuracy)

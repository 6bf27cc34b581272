"""The torch parts of UniversalGate: the shared correction, the per-expert calibration,
the routing loss and the full-batch L-BFGS fit."""

import numpy as np
import torch
from torch import nn

from ..utils._seeding import torch_seeded
from ._universal_features import universal_features


def _zero_last(module):
    last = module if isinstance(module, nn.Linear) else module[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return module


def _correction_net(kind, n_features, hidden_units):
    if kind == "linear":
        return _zero_last(nn.Linear(n_features, 1))
    return _zero_last(nn.Sequential(nn.Linear(n_features, hidden_units), nn.Tanh(),
                                    nn.Linear(hidden_units, 1)))


class _Calibration(nn.Module):
    """Per-expert calibration of the universal scores ``s`` (bound to the experts).

    ``shift``: ``s_k + b_k``; ``affine``: ``(1 + a_k) s_k + b_k``; ``features``:
    plus ``v_k . f_k`` on the standardised statistics; ``network``: plus a small
    network on the expert's standardised logits; ``activations``: the network
    reads the expert's standardised activations too. Each of these scores an expert
    from its own outputs. ``joint``: the ``features`` level plus one linear map from
    every expert's standardised logits and activations, concatenated, to every
    expert's score, so that what one expert sees can lower another's score (a
    digit expert's features can say "not a photograph" where the photograph
    expert's own energy cannot). Every parameter starts at 0: the identity.
    """

    def __init__(self, level, inputs, hidden_units):
        super().__init__()
        k = inputs["scores"].shape[1]
        self.level = level
        self.scale = nn.Parameter(torch.zeros(k, dtype=torch.float64),
                                  requires_grad=level != "shift")
        self.shift = nn.Parameter(torch.zeros(k, dtype=torch.float64))
        if level in ("features", "network", "activations", "joint"):
            n_features = inputs["features"].shape[-1]
            self.weights = nn.Parameter(torch.zeros(k, n_features, dtype=torch.float64))
        if level == "joint":
            width = sum(z.shape[1] for z in self._net_inputs(inputs))
            self.joint = _zero_last(nn.Linear(width, k)).double()
        if level in ("network", "activations"):
            self.nets = nn.ModuleList(
                _correction_net("mlp", z.shape[1], hidden_units).double()
                for z in self._net_inputs(inputs)
            )

    def _net_inputs(self, inputs):
        if self.level in ("activations", "joint"):
            return [torch.cat(pair, dim=1) for pair in zip(inputs["logits"], inputs["acts"])]
        return inputs["logits"]

    def forward(self, inputs):
        out = (1 + self.scale) * inputs["scores"] + self.shift
        if self.level in ("features", "network", "activations", "joint"):
            out = out + (inputs["features"] * self.weights).sum(-1)
        if self.level == "joint":
            out = out + self.joint(torch.cat(self._net_inputs(inputs), dim=1))
        if self.level in ("network", "activations"):
            out = out + torch.cat(
                [net(z) for net, z in zip(self.nets, self._net_inputs(inputs))], dim=1)
        return out


def _rows(inputs, rows):
    """The calibration inputs of some samples only."""
    return {key: value if value is None else
            [v[rows] for v in value] if isinstance(value, list) else value[rows]
            for key, value in inputs.items()}


def _routing_loss(scores, owners, weight=None):
    """Cross-entropy of the softmax over the experts against the owners (any of them),
    averaged, or weighted by ``weight`` and summed."""
    log_owned = torch.logsumexp(scores.masked_fill(~owners, -torch.inf), dim=1)
    loss = torch.logsumexp(scores, dim=1) - log_owned
    return loss.mean() if weight is None else (weight * loss).sum()


def _penalty(module):
    return sum((p**2).sum() for p in module.parameters())


def _minimise(module, loss_fn, max_iter):
    """Full-batch L-BFGS: the fit data of a gate is small, and the loss smooth."""
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-8,
                                  tolerance_change=1e-10)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimizer.step(closure)
    return module


def fit_correction(problems, statistics, *, kind, hidden_units, alpha, max_iter, seed):
    """Learn a shared correction on [(logits, owners), ...], the loss averaged over problems.

    Returns the correction as a dict (as :func:`load_correction` returns).
    """
    raw = [universal_features(logits, statistics) for logits, _ in problems]
    pooled = np.concatenate([f.reshape(-1, f.shape[-1]) for f in raw])
    mean, scale = pooled.mean(axis=0), pooled.std(axis=0)
    scale[scale == 0] = 1.0
    energy_col = [universal_features(logits, ("energy",))[..., 0] for logits, _ in problems]
    tensors = [
        (torch.as_tensor(e), torch.as_tensor((f - mean) / scale), torch.as_tensor(o))
        for e, f, (_, o) in zip(energy_col, raw, problems)
    ]
    with torch_seeded(seed):
        net = _correction_net(kind, len(statistics), hidden_units).double()

    def loss():
        total = sum(_routing_loss(e + net(f)[..., 0], o) for e, f, o in tensors)
        return total / len(tensors) + alpha * _penalty(net)

    _minimise(net, loss, max_iter)
    state = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return {
        "statistics": statistics, "kind": kind,
        "hidden_units": hidden_units if kind == "mlp" else 0,
        "feature_mean": mean, "feature_scale": scale, "state": state, "provenance": {},
    }


def _column_stats(columns):
    return [(c.mean(0), c.std(0) + 1e-6) for c in columns]


def calibration_stats(scores, features, logits, acts):
    """Means and spreads of the calibration inputs on the fit data (kept for prediction)."""
    flat = features.reshape(-1, features.shape[-1])
    return {
        "scores": (scores.mean(), scores.std() + 1e-12),
        "features": (flat.mean(0), flat.std(0) + 1e-12),
        "logits": _column_stats(logits), "acts": None if acts is None else _column_stats(acts),
    }


def calibration_tensors(stats, scores, features, logits, acts):
    """The calibration inputs as tensors, standardised with ``stats``."""
    def standard(columns, pairs):
        return [torch.as_tensor((np.asarray(c, np.float64) - m) / s)
                for c, (m, s) in zip(columns, pairs)]

    # scores in units of their spread (argmax is unchanged), so that the penalty
    # means the same whatever the experts' logit scale
    return {
        "scores": torch.as_tensor((scores - stats["scores"][0]) / stats["scores"][1]),
        "features": torch.as_tensor((features - stats["features"][0]) / stats["features"][1]),
        "logits": standard(logits, stats["logits"]),
        "acts": (standard(acts, stats["acts"])
                 if acts is not None and stats["acts"] is not None else None),
    }

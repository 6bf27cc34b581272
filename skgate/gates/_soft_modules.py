"""The torch modules of SoftMoE: the mixture ``log Y = log sum_k G(X)_k E_k(X)`` and its parts."""

import copy

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from torch import nn
from torchvision.transforms.v2 import functional as TF

from ..models import ThumbnailCNN
from ..utils._device import PortableNet, module_placement
from ..utils._seeding import RNGSafeIterators


class _Scatter(nn.Module):
    """Log-softmax of an expert's logits, placed in the mixture's label space.

    Columns the expert does not have get ``-inf`` (probability 0).
    """

    def __init__(self, columns, n_classes):
        super().__init__()
        self.register_buffer("columns", torch.as_tensor(np.asarray(columns), dtype=torch.long))
        self.n_classes = int(n_classes)

    def forward(self, logits):
        out = logits.new_full((len(logits), self.n_classes), float("-inf"))
        return out.index_copy(1, self.columns, F.log_softmax(logits, dim=1))


class _JointExpert(nn.Module):
    """An expert's own module (trained in place) behind its input transform."""

    def __init__(self, module, transform):
        super().__init__()
        self.module = module
        self.transform = transform

    def forward(self, x):
        return self.module(x if self.transform is None else self.transform(x))


class _LabelEmbedding(nn.Module):
    """Confidence-weighted mean of the embeddings of an expert's top-T labels (eq. 8)."""

    def __init__(self, n_labels, dim, init=None):
        super().__init__()
        self.bag = nn.EmbeddingBag(n_labels, dim, mode="sum")
        if init is not None:
            with torch.no_grad():
                self.bag.weight.copy_(torch.as_tensor(init, dtype=torch.float32))

    def forward(self, index, weight):
        return self.bag(index, per_sample_weights=weight)


class _EmbeddingGate(nn.Module):
    """Per-expert linear embedding, ReLU, mean over experts, linear to K (eq. 6)."""

    def __init__(self, dims, embedding_dim, n_experts):
        super().__init__()
        self.embed = nn.ModuleList(nn.Linear(d, embedding_dim) for d in dims)
        self.out = nn.Linear(embedding_dim, n_experts)

    def forward(self, features):
        embedded = torch.stack([F.relu(e(h)) for e, h in zip(self.embed, features)])
        return self.out(embedded.mean(dim=0))


class SoftMixtureModule(nn.Module):
    """``log Y = log sum_k G(X)_k E_k(X)``, and the gate weights ``G(X)``.

    The forward pass takes the named inputs built by :class:`SoftMoE` and
    returns ``(log_proba, weights)``; skorch uses the first for the loss.

    With ``combine="logits"`` (heads only; the heads then return logits ``z_k``, not
    log-probabilities) it is the gated product of experts
    ``log Y = log_softmax(sum_k G(X)_k z_k(X))``.

    Examples
    --------
    :class:`SoftMoE` builds and trains it; a fitted gate holds it as ``module_``:

    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import SoftMoE
    >>> from skgate.gates._soft_modules import SoftMixtureModule
    >>> from skgate.utils._testing import slice_expert
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4)).astype(np.float32)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> gate = SoftMoE("linear", max_epochs=2, random_state=0)
    >>> moe = MixtureOfExperts(experts, gate=gate).fit(X, X.argmax(axis=1))
    >>> isinstance(moe.gate_.module_, SoftMixtureModule), moe.gate_.module_.mode
    (True, 'frozen')
    """

    def __init__(self, mode, experts, gate, label_embeddings=None, combine="probabilities"):
        super().__init__()
        self.mode = mode  # "frozen" (fixed probabilities), "heads" or "joint"
        self.combine = combine  # "probabilities" (mixture) or "logits" (gated product)
        self.experts = nn.ModuleList(experts)
        self.gate = gate
        self.label_embeddings = None if label_embeddings is None else nn.ModuleList(
            label_embeddings
        )

    def _features(self, inputs):
        n = len(self.experts)
        features = [inputs[f"h{k}"] for k in range(n) if f"h{k}" in inputs]
        if self.label_embeddings is not None:
            features = [
                torch.cat([h, emb(inputs[f"top{k}"], inputs[f"topw{k}"])], dim=1)
                for k, (h, emb) in enumerate(zip(features, self.label_embeddings))
            ]
        return features

    def forward(self, **inputs):
        features = self._features(inputs)
        if self.mode == "heads":
            log_p = [expert(h) for expert, h in zip(self.experts, features)]
        elif self.mode == "joint":
            log_p = [expert(inputs["x"]) for expert in self.experts]
        else:
            log_p = [inputs[f"logp{k}"] for k in range(len(self.experts))]
        log_p = torch.stack(log_p, dim=1)  # (n, K, C); the heads' logits with "logits"
        if getattr(self, "combine", "probabilities") == "logits":
            if self.gate is None:
                weights = inputs["owner"]
            else:
                gate_in = features if isinstance(self.gate, _EmbeddingGate) else inputs["gate_x"]
                weights = F.softmax(self.gate(gate_in), dim=1)
            return F.log_softmax((weights.unsqueeze(2) * log_p).sum(dim=1), dim=1), weights
        if self.gate is None:  # the fixed gate: weights given with the input
            weights = inputs["owner"]
            log_w = torch.log(weights.clamp_min(1e-12))
        else:
            gate_in = features if isinstance(self.gate, _EmbeddingGate) else inputs["gate_x"]
            log_w = F.log_softmax(self.gate(gate_in), dim=1)
            weights = log_w.exp()
        return torch.logsumexp(log_w.unsqueeze(2) + log_p, dim=1), weights


class _SoftNet(PortableNet, RNGSafeIterators, NeuralNetClassifier):
    """skorch classifier whose module returns ``(log_proba, weights)``."""

    def get_loss(self, y_pred, y_true, *args, **kwargs):
        if isinstance(y_pred, tuple):
            y_pred = y_pred[0]
        return super().get_loss(y_pred, y_true, *args, **kwargs)


def _log_softmax_union(logits, expert_set, k):
    """An expert's log-probabilities in the union label space (``-inf`` elsewhere)."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    out = np.full((len(z), len(expert_set.classes_)), -np.inf, dtype=np.float32)
    out[:, expert_set.columns_[k]] = log_p
    return out


def thumbnails(X, size):
    """``size`` x ``size`` thumbnails of images ``(N, C, H, W)`` or ``(N, H, W)`` (antialiased)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4:
        raise ValueError(
            "gate_net='thumbnail_cnn' needs images of shape (N, C, H, W) or (N, H, W), got "
            f"samples of shape {X.shape[1:]}."
        )
    chunks = [
        TF.resize(torch.from_numpy(np.ascontiguousarray(X[i : i + 1024])), [size] * 2,
                  antialias=True)
        for i in range(0, len(X), 1024)
    ]
    return torch.cat(chunks).numpy()


def gate_module(gate_net, inputs, n_experts, *, hidden_units, embedding_dim, label_dims):
    """The gate network ``gate_net`` for the named ``inputs`` (None for the fixed gate)."""
    if gate_net == "fixed":
        return None
    if gate_net == "embedding":
        dims = [inputs[f"h{k}"].shape[1] + label_dims[k] for k in range(n_experts)]
        return _EmbeddingGate(dims, embedding_dim, n_experts)
    gate_x = inputs["gate_x"]
    if gate_net == "thumbnail_cnn":
        return ThumbnailCNN(in_channels=gate_x.shape[1], n_outputs=n_experts)
    n_in = gate_x.shape[1]
    if gate_net == "linear":
        return nn.Linear(n_in, n_experts)
    return nn.Sequential(
        nn.Linear(n_in, hidden_units), nn.ReLU(), nn.Linear(hidden_units, n_experts)
    )


def joint_expert_modules(expert_set, x0, n_classes):
    """Copies of the experts' modules behind their input transforms, in the label space.

    ``x0`` (one input) checks that each module returns one logit per class of its expert.
    """
    modules = []
    for k, (name, expert) in enumerate(zip(expert_set.names, expert_set.experts)):
        joint = _JointExpert(copy.deepcopy(expert.module_), expert.input_transform)
        # the sample goes where the copy is (the expert's device, in its dtype); the gate's
        # network then takes the copies to the gate's device
        device, dtype = module_placement(joint, "cpu")
        with torch.no_grad():  # one sample: fail early and clearly on a wrong width
            width = joint(torch.as_tensor(x0, device=device, dtype=dtype)).shape[-1]
        if width != len(expert_set.columns_[k]):
            raise ValueError(
                f"Expert {name!r} returns {width} logits but has "
                f"{len(expert_set.columns_[k])} classes; its module must return one "
                "logit per class."
            )
        modules.append(nn.Sequential(joint, _Scatter(expert_set.columns_[k], n_classes)))
    return modules

"""SoftMoE's parameters checked against the experts, and the arrays its network reads."""

from collections.abc import Mapping

import numpy as np

from ._soft_modules import _LabelEmbedding, _log_softmax_union, thumbnails


class SoftInputsMixin:
    """``SoftMoE``'s checks of its parameters against the experts, and the named arrays
    (representations, top labels, log-probabilities, owners, gate inputs) its network
    reads."""

    def _check_params(self, expert_set):
        if self.combine == "logits" and self.heads is None:
            raise ValueError(
                "combine='logits' adds the logits of the heads (a gated product of experts); "
                "it needs heads='linear'. Without heads the experts predict in their own label "
                "sets, where a product gives probability 0 to every label one expert lacks; "
                "use combine='probabilities'."
            )
        if self.train_experts and self.heads is not None:
            raise ValueError(
                "heads='linear' reads frozen representations; it cannot be combined with "
                "train_experts=True. Use one or the other."
            )
        if self.train_experts and self.gate_net == "embedding":
            raise ValueError(
                "gate_net='embedding' embeds frozen representations; use another gate_net "
                "with train_experts=True."
            )
        if self.label_embedding is not None and self.heads is None:
            raise ValueError(
                "label_embedding augments the representations read by the heads; set "
                "heads='linear' to use it."
            )
        if isinstance(self.label_embedding, Mapping):
            if not self.label_embedding:
                raise ValueError(
                    "label_embedding is an empty dict; give an int (the embedding size) or a "
                    "dict of expert name to array (n_classes, dim)."
                )
            unknown = sorted(set(self.label_embedding) - set(expert_set.names))
            if unknown:
                raise ValueError(
                    f"label_embedding names unknown experts {unknown}; the experts are "
                    f"{expert_set.names}."
                )
            for name, init in self.label_embedding.items():
                if np.ndim(init) != 2:
                    raise ValueError(
                        f"label_embedding[{name!r}] must be a 2-D array (n_classes, dim); got "
                        f"shape {np.shape(init)}."
                    )
        if self.train_experts:
            frozen = [n for n, e in zip(expert_set.names, expert_set.experts) if e.frozen]
            if frozen:
                raise ValueError(
                    f"train_experts=True would change the frozen experts {frozen}; use "
                    "experts that are not frozen, or train_experts=False."
                )

    def _owner_weights(self, outputs, y):
        if y is not None:
            owners = outputs.expert_set.owners(y).astype(np.float32)
            return owners / owners.sum(axis=1, keepdims=True)
        if self.owner is None:
            raise ValueError(
                "gate_net='fixed' routes each sample to the expert owning its label; without "
                "labels it needs `owner`, a callable X -> index of the expert per sample."
            )
        index = np.asarray(self.owner(outputs.X))
        valid = np.isin(index, range(outputs.n_experts)).all()
        if index.shape != (outputs.n_samples,) or not valid:
            raise ValueError(
                f"owner(X) must return one expert index in [0, {outputs.n_experts}) per sample, "
                f"got an array of shape {index.shape}."
            )
        return np.eye(outputs.n_experts, dtype=np.float32)[index]

    def _inputs(self, outputs, y=None):
        """The named arrays the network reads, for the experts' outputs ``outputs``."""
        inputs = {}
        if self.heads is not None or self.gate_net == "embedding":
            for k, h in enumerate(outputs.layer(self.features)):
                inputs[f"h{k}"] = self.scalers_[k].transform(h).astype(np.float32)
        if self.label_embedding is not None:
            for k, proba in enumerate(outputs.probas):
                top = min(self.top_labels, proba.shape[1])
                index = np.argsort(-proba, axis=1)[:, :top]
                weight = np.take_along_axis(proba, index, axis=1)
                inputs[f"top{k}"] = index.astype(np.int64)
                inputs[f"topw{k}"] = (weight / weight.sum(axis=1, keepdims=True)).astype(
                    np.float32
                )
        if self.heads is None and not self.train_experts:
            for k, z in enumerate(outputs.logits):
                inputs[f"logp{k}"] = _log_softmax_union(z, outputs.expert_set, k)
        if self.train_experts:
            inputs["x"] = np.asarray(outputs.X, dtype=np.float32)
        if self.gate_net == "fixed":
            inputs["owner"] = self._owner_weights(outputs, y)
        elif self.gate_net in ("linear", "mlp"):
            inputs["gate_x"] = np.asarray(outputs.X, dtype=np.float32).reshape(
                outputs.n_samples, -1
            )
        elif self.gate_net == "thumbnail_cnn":
            inputs["gate_x"] = thumbnails(outputs.X, self.thumbnail_size)
        return inputs

    def _label_dim(self, k):
        if self.label_embedding is None:
            return 0
        if isinstance(self.label_embedding, Mapping):
            name = self.expert_names_[k]
            if name in self.label_embedding:
                return np.shape(self.label_embedding[name])[1]
            return np.shape(next(iter(self.label_embedding.values())))[1]
        return int(self.label_embedding)

    def _label_embeddings(self, expert_set):
        if self.label_embedding is None:
            return None
        modules = []
        for k, (name, expert) in enumerate(zip(expert_set.names, expert_set.experts)):
            n_labels = len(expert.classes_)
            init = None
            if isinstance(self.label_embedding, Mapping) and name in self.label_embedding:
                init = np.asarray(self.label_embedding[name], dtype=np.float32)
                if init.ndim != 2 or init.shape[0] != n_labels:
                    raise ValueError(
                        f"label_embedding[{name!r}] must have one row per class of the expert, "
                        f"shape ({n_labels}, dim); got {init.shape}."
                    )
            modules.append(_LabelEmbedding(n_labels, self._label_dim(k), init))
        return modules

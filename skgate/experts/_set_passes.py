"""ExpertSet's passes: each expert run over an input (several at a time with ``n_jobs``,
or taking turns on each block of an array), its errors named, its outputs checked."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from joblib import effective_n_jobs

from ._expert_batches import LaterBatchError, shareable_batch, to_module_device


class _PassMixin:
    """The private steps of ``ExpertSet.outputs`` and ``ExpertSet.proba``."""

    def _workers(self):
        """How many threads run the experts (1: the calling thread alone)."""
        return max(1, min(effective_n_jobs(self.n_jobs), len(self)))

    def _map(self, run, experts):
        """``[run(k) for k in experts]``, up to ``n_jobs`` of them at the same time."""
        experts = list(experts)
        workers = min(self._workers(), len(experts))
        if workers < 2:
            return [run(k) for k in experts]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, experts))

    def _layer_modules(self, k, layers):
        try:
            self.experts[k].layer_modules(layers)
        except ValueError as exc:
            raise ValueError(f"Expert {self.names[k]!r}: {exc}") from None

    @contextmanager
    def _reporting(self, k, X):
        """Name expert ``k`` and the input's shape in an error of its forward pass."""
        try:
            yield
        except torch.OutOfMemoryError:
            raise  # for the caller that shrinks its batches
        except LaterBatchError as exc:
            raise RuntimeError(
                f"Expert {self.names[k]!r} failed on {exc}. The input's format is not the "
                "problem (earlier batches of it went through): the module itself raised."
            ) from exc.__cause__
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"Expert {self.names[k]!r} could not process the input of shape "
                f"{np.shape(X)} (sample shape {np.shape(X)[1:]}): {exc} Check that the "
                "mixture's X is in the format the expert's input_transform expects."
            ) from exc

    def _forward_one(self, k, X, layers):
        """Expert ``k``'s logits and ``layers`` over ``X``, unchecked."""
        with self._reporting(k, X):
            return self.experts[k].forward_outputs(X, layers=layers)

    def _together(self, X):
        """Whether the experts take turns on blocks of ``X`` (an array every expert only
        cuts into batches, and more than one expert), or each runs over ``X`` alone."""
        return len(self) > 1 and all(expert._reads_arrays(X) for expert in self.experts)

    def _block(self, X):
        """The rows of a block of ``X``: the largest inference batch of all the experts."""
        return max(expert._inference_batch_size() or max(len(X), 1)
                   for expert in self.experts)

    def _raw_one(self, k, X, layers, together):
        """Expert ``k``'s logits and ``layers[k]`` over ``X``, unchecked, cut into the
        batches it gets in a pass of every expert (``together``: on the set's blocks)."""
        if together:
            return self._forward_together(X, layers, [k])[0]
        return self._forward_one(k, X, layers[k])

    def _forward_together(self, X, layers, which):
        """The logits and ``layers`` of the experts ``which`` over the array ``X``,
        unchecked, block by block: each block (the largest inference batch of all the
        experts) is converted once, copied once to each device the experts are on, and
        goes through every expert in ``which`` before the next is read. An expert with a
        smaller batch size cuts the block into equal batches no larger than its own. Each
        expert's hooks are open only during its turn, so experts that share a module
        capture only their own passes."""
        block = self._block(X)
        experts = [self.experts[k] for k in which]
        layers = [layers[k] for k in which]
        chunks = [[] for _ in experts]
        captured = [{name: [] for name in wanted} for wanted in layers]
        for expert in experts:
            expert._start_inference()
        devices = [expert._input_device() for expert in experts]
        for start in range(0, len(X), block):
            part = shareable_batch(X[start : start + block], X.flags.writeable)  # once for all
            staged = {}  # the block on each device the experts are on, copied there once
            for i, (k, expert) in enumerate(zip(which, experts)):
                n_batches = -(-len(part) // (expert._inference_batch_size() or len(part)))
                size = -(-len(part) // n_batches)  # equal batches, none above the expert's
                if devices[i] not in staged:
                    staged[devices[i]] = to_module_device(torch.from_numpy(part), devices[i])
                with self._reporting(k, X), expert._capturing(layers[i], captured[i]):
                    chunks[i].extend(expert._logits_of(out) for out in
                                     expert._array_forward_iter(staged[devices[i]], size))
        return [expert._collect(c, cap) for expert, c, cap in zip(experts, chunks, captured)]

    def _check(self, k, z, acts):
        """Expert ``k``'s logits and activations, or a clear error if they cannot be used."""
        name, expert = self.names[k], self.experts[k]
        if z.ndim != 2 or z.shape[1] != len(expert.classes_):
            raise ValueError(
                f"Expert {name!r} returned outputs of shape {z.shape}, expected "
                f"(n_samples, {len(expert.classes_)}): one column per class."
            )
        for what, values in [("logits", z), *acts.items()]:
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"Expert {name!r} returned non-finite {what} (NaN or infinity) for "
                    f"{int(bad.sum())} of {len(bad)} samples (first: sample "
                    f"{int(np.flatnonzero(bad)[0])}); a gate cannot route on them. Check "
                    "the input for NaN or infinity, and the expert's weights."
                )
        return z, acts

"""The seeding of the gates' skorch networks: ``fit`` seeds torch with the net's
``random_state`` (PANGate's ``_SeededNetClassifier``, FastRouter's ``_SeededNet``)."""

from ..utils._seeding import RNGSafeIterators, torch_seeded


class SeededFitMixin(RNGSafeIterators):
    """skorch mixin: ``fit`` seeds torch (initialisation and shuffling) with ``random_state``,
    in a forked random state, and the data loaders leave the global one alone.

    The seed is a parameter, so clones (``VotingClassifier`` fits clones) keep it.
    """

    def __init__(self, *args, random_state=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_state = random_state

    def fit(self, X, y=None, **fit_params):
        seed = None if self.random_state is None else int(self.random_state)
        with torch_seeded(seed, self.device):
            return super().fit(X, y, **fit_params)


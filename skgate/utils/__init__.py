"""Utilities: test helpers live in the private ``skgate.utils._testing``."""

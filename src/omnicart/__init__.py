"""Omnicart: one catalog, one stock and one order book for every sales channel."""

__version__ = "0.1.0"

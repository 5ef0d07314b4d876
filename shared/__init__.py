"""Smartby's domain library: capabilities and ports with their adapters; no Azure Functions here."""

__version__ = "0.1.0"

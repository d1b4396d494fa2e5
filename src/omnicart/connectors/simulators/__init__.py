"""Vendor simulators on loopback: each vendor's HTTP API and webhooks, for tests and the demo."""

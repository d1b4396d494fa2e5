"""Customers: one person across channels (identity resolution), consent, GDPR export and
erasure, and the Customer 360 view."""

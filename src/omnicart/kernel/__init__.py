"""Shared building blocks with no dependency on frameworks: money, errors, clock."""

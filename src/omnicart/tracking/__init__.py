"""Tracking: Segment-compatible events from each channel's sources, kept in DuckDB."""

"""locations capability."""

"""channels capability."""

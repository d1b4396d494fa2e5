"""The HTTP API: app factory, problem+json, auth dependencies."""

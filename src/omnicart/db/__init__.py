"""Database plumbing: engine, declarative base, column types, transactions, outbox."""

"""Conversations: one support case per customer, continued across every contact channel."""

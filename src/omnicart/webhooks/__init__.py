"""Outbound webhooks: the merchant's own systems subscribe to order, return, stock and
customer events, delivered in order per subscription, signed as Standard Webhooks says."""

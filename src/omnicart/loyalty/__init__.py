"""Loyalty: a points ledger earned and redeemed in every channel, tiers by rolling spend."""

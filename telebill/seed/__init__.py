"""Deterministic synthetic population: members, subscriptions and monthly usage at 1M scale."""

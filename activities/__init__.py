"""Temporal activities: the I/O steps that workflows call."""

"""Telebill: monthly telecom bill settlement and delivery."""

__version__ = "0.1.0"

"""The pure domain core: no I/O (months, pricing, send windows)."""

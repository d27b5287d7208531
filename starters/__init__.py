"""The `telebill` command line."""

"""The admin operations, one function each, that the CLI and the HTTP API both call: typed input,
typed results, and `telebill.errors` kinds for what the caller must be told."""

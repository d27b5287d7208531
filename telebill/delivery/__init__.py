"""What was delivered, by which channel and template version: the message platform's record."""

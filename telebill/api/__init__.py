"""The admin HTTP API and its web console, over the service layer (`telebill api serve`)."""

"""Message templates: typed render context, sandboxed jinja2 rendering, versions in PostgreSQL."""

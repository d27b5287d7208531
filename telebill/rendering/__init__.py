"""Rendering a message template: what a template can see (`context`), the sandboxed Jinja
environment and its limits (`render`, `limits`, `guards`, `sizes`, `budget`). Below
telebill.channels, which renders with it, and telebill.templates, which stores and previews
templates (and knows the channels): so the two no longer import each other."""

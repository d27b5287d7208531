"""What the deployment files (docker-compose.yml, deploy/kubernetes) are checked against: the
environment variables Telebill reads."""

from __future__ import annotations

from pydantic import AliasChoices

from telebill.config import Settings


def setting_env_names() -> set[str]:
    """Every variable a setting is read from: TELEBILL_<NAME>, or its aliases (DATABASE_URL,
    KAFKA_BOOTSTRAP_SERVERS, TEMPORAL_ADDRESS). Any other is ignored by the processes, so a
    misspelt one in a deployment file would silently change nothing."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice) for choice in alias.choices}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"TELEBILL_{name.upper()}")
    return names

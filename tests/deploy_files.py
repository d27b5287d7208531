"""What the deployment files (docker-compose.yml, deploy/kubernetes) are checked against: the
environment variables Telebill reads, and which of them are secrets."""

from __future__ import annotations

from functools import cache
from typing import get_args

from pydantic import AliasChoices, SecretStr

from telebill.config import Settings


@cache
def setting_names() -> frozenset[str]:
    """Every environment variable a setting of telebill reads: TELEBILL_<NAME>, or its aliases
    (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, TEMPORAL_ADDRESS). Any other is ignored by the
    processes, so a misspelt one in a deployment file would silently change nothing."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"TELEBILL_{field_name.upper()}")
    return frozenset(names)


def secret_settings() -> set[str]:
    """The settings that are secrets: the database URLs (they carry passwords) and every
    SecretStr (passwords, the links' key)."""
    out = set()
    for field_name, field in Settings.model_fields.items():
        if "database_url" in field_name or SecretStr in (
            field.annotation,
            *get_args(field.annotation),
        ):
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                out |= {str(choice).upper() for choice in alias.choices}
            else:
                out.add(f"TELEBILL_{field_name.upper()}")
    assert {"DATABASE_URL", "TELEBILL_KAFKA_PASSWORD", "TELEBILL_WEB_LINK_KEY"} <= out
    return out

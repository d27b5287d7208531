"""What every section shares: the TELEBILL_ prefix, and other variables ignored."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

SECTION_CONFIG = SettingsConfigDict(env_prefix="TELEBILL_", extra="ignore")

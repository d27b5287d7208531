"""The settings in sections, one module per concern, each a pydantic-settings class reading
TELEBILL_<NAME> (service addresses also their usual names): stack, database, Kafka, Temporal,
process, worker, consumer, mail, notify, API and the bill page.

telebill/config.py composes them into the one `Settings` every process reads (flat, as
`settings.<name>`); a process or a test that needs only one concern may build that section
alone, e.g. `KafkaSettings()`.
"""

from __future__ import annotations

from telebill.settings.api import ApiSettings
from telebill.settings.base import SECTION_CONFIG
from telebill.settings.consumer import ConsumerSettings
from telebill.settings.database import DatabaseSettings
from telebill.settings.kafka import KafkaSettings
from telebill.settings.mail import MailSettings
from telebill.settings.notify import NotifySettings
from telebill.settings.process import ProcessSettings
from telebill.settings.stack import PROJECT_ROOT, StackSettings
from telebill.settings.temporal import TemporalSettings
from telebill.settings.web import WebSettings
from telebill.settings.worker import WorkerSettings

# Settings' bases, in this order (its fields: each section's, in the sections' order).
SECTIONS = (
    StackSettings,
    DatabaseSettings,
    KafkaSettings,
    TemporalSettings,
    ProcessSettings,
    WorkerSettings,
    ConsumerSettings,
    MailSettings,
    NotifySettings,
    ApiSettings,
    WebSettings,
)

__all__ = [
    "PROJECT_ROOT",
    "SECTIONS",
    "SECTION_CONFIG",
    "ApiSettings",
    "ConsumerSettings",
    "DatabaseSettings",
    "KafkaSettings",
    "MailSettings",
    "NotifySettings",
    "ProcessSettings",
    "StackSettings",
    "TemporalSettings",
    "WebSettings",
    "WorkerSettings",
]

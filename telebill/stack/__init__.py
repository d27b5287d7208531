"""The local stack: PostgreSQL, Apache Kafka (KRaft) and the Temporal dev server on loopback."""

SERVICE_NAMES = ("postgres", "kafka", "temporal")

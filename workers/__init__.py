"""The Temporal worker and the Kafka consumers."""

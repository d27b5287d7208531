"""Event models, topic names and Kafka helpers of the message platform."""

"""The month report as one self-contained HTML page: settlement, delivery, what is open."""

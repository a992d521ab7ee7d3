"""Billing intelligence: FOCUS ingest, cost mart questions, anomaly radar and forecast."""

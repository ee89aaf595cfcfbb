"""The customer data centre: unified model, feed adapters, ingestion pipeline."""

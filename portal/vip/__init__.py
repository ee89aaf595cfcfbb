"""Tiered VIP service: tier rules, average daily AUM, monthly evaluation with explanations,
pins, entitlements and service requests, tier reports."""

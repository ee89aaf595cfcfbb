"""Financial planning: risk-tolerance assessment, suitability, goals, plans (later issues)."""

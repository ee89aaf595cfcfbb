"""Back-office reports and exports (later issues)."""

"""The customer 360 view and customer search."""

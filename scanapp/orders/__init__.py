"""Outbound orders (sales, production issues, transfers) and pick lists."""

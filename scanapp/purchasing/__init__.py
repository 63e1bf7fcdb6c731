"""Purchasing and receiving: suppliers, purchase orders, receipts against them, returns to suppliers."""

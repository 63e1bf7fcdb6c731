"""The handheld receive flow: scan the PO, the item, quantity, lot, inspection, put-away location."""

"""The handheld pick flow."""

"""Scan API routes (being written)."""


def openapi_paths() -> dict:
    return {}

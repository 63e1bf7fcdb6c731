"""Offline mode: the web manifest, the service worker, the offline pages and the handhelds (devices)."""

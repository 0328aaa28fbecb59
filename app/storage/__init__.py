"""Paths, vendor config, the SQLite outbox, history and settings, the keyring license store.

Uses ``app.model`` only; never imports Qt.
"""

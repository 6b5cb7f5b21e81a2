"""The floor every package stands on: database, time, errors, settings, web helpers, CSRF,
audit log, privacy registry, mail and the signals domains use to react to each other.

Imports nothing else from ``app``.
"""

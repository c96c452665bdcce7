"""The evidence vault: encrypted, hashed, atomically stored attachments with a chain of custody.

Storage core (no database, no HTTP): crypto (streaming AES-256-GCM format), keyring (master keys
and data-key wrapping), store (atomic directory store), mediatype (content sniffing, filenames).
"""

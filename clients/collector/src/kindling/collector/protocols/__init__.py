"""The application protocols the collector recognises by content.

Each parser is a set of pure functions from a captured payload (the first
bytes one read or write moved, see ``Event.payload``) to the messages that
start in it, or None when the bytes are not that protocol's message start.
:mod:`.detect` picks the protocol of a connection from its first request.
"""

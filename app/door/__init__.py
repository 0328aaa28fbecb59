"""The host door: the local endpoint the vendor's application talks to (the protocol, its
dispatch, the transports, the inbox ingest) and ``client.py``, the door's other end. No Qt."""

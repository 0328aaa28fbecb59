"""Delivery: the sender (one backend's send rounds), batches, backoff, send state, HTTP with a
total deadline, and the network state it honours. No Qt."""

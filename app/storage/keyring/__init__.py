"""The OS keyring: the license key and the fallback machine id, never in a file. No Qt."""

"""Helpers shared by the tests (and the benches): real servers on loopback, no fakes."""

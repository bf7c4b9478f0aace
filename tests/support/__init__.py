"""Helpers several test folders share: builders, the suite in a subprocess, the fleet, a fault proxy. No tests here."""

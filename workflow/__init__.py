"""The domain: pure, synchronous (but services.py), standard library and `holidays` only."""

"""Loopback emulators of the HTTP APIs Otklik talks to, driven by the real client libraries in tests and demo.

They import nothing of Otklik's: an emulator is a stand-in for someone else's server.
"""

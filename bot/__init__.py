"""Composition root: settings, wiring, CLI, Telegram sender, scheduler, emulators."""

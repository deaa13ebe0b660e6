"""A loopback emulator of Odnoklassniki's REST API (fb.do) and Bot API (CHANNELS.md, OK)."""

from emulators.ok.server import Delivery, OkComment, OkEmulator, SentMessage, ok_sig

__all__ = ["Delivery", "OkComment", "OkEmulator", "SentMessage", "ok_sig"]

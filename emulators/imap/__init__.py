"""A loopback IMAP4rev1 mailbox (asyncio), just big enough for aioimaplib: the ПОС notification mailbox."""

from emulators.imap.server import ImapEmulator, Mail, Mailbox

__all__ = ["ImapEmulator", "Mail", "Mailbox"]

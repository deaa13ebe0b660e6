"""What people see, rendered: texts, callback data, keyboards, cards, Telegram HTML. No I/O."""

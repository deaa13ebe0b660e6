"""aiogram routers: parse an update, call one use case, render the reply."""

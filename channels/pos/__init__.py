"""ПОС: messages reach the district only through ПОС (its notifications, its export files)."""

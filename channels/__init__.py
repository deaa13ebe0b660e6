"""Citizens' networks and ПОС sources: messages in, answers out, each behind a port of `workflow.ports`."""

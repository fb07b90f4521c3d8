"""Background workers: the dispatcher and the outbox relay."""

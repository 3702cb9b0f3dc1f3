"""Context for events: the thread and fd tables, how state-changing events
update them, and /proc for what the kernel records do not carry."""

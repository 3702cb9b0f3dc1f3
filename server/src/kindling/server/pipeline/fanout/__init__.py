"""From encoded events to subscribers: the batch, per-subscriber filters and
the broker with its bounded queues and in-band loss reports."""

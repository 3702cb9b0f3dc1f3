"""The pipeline: kernel records in, encoded kindling events out to every
subscriber. `builder.EventBuilder` runs it a batch at a time:

- enrich/: what each event means for the thread and fd tables, the tables
  themselves and /proc, and the context every event gets from them;
- encode/: protobuf wire format written a column at a time, and the framing
  of stream responses;
- fanout/: the batch of encoded events, subscriber filters and the broker.

`plan.py` says what the kernel must capture for the subscriptions.
"""

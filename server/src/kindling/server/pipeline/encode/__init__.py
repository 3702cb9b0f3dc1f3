"""Protobuf wire format for the hot path: events and stream responses are
written a column at a time with numpy and assembled with one gather."""

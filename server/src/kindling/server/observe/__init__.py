"""The service's own observability: its metrics in Prometheus format and
its log format."""

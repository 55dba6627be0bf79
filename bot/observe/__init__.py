"""What Signoff tells its operators: Prometheus metrics, lifecycle log lines, the worker heartbeat."""

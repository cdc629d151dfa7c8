"""meterflow_poller."""

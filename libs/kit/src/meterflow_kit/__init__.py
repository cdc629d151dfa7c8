"""meterflow_kit."""

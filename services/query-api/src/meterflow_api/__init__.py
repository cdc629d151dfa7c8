"""meterflow_api."""

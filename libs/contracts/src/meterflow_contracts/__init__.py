"""meterflow_contracts."""

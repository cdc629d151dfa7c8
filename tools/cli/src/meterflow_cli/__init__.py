"""meterflow_cli."""

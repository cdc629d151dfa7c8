"""meterflow_writer."""

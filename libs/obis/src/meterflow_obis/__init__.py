"""meterflow_obis."""

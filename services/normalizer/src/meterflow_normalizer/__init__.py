"""meterflow_normalizer."""

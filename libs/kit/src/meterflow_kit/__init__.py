"""Runtime kit shared by the Meterflow services: logging, ops HTTP endpoint, lifecycle, backoff.

Only plumbing lives here (no domain logic, no contracts): it keeps each service's wiring to a few lines.
"""

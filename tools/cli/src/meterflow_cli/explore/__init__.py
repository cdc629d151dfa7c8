"""``meterflow explore``: the first analysis of a meter's load curve as a self-contained report."""

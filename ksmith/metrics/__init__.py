"""Metrics: accuracies per probe type / level / domain, CCR, RR, conflict, consistency, propagation,
drift, geometry, oracle distance and confidence intervals (docs/metrics.md).

`compute(dataset, pre, post)` gives every per-case metric as `Metric` records tagged with their
protocol. Modules that need torch (drift, geometry, oracle) are imported only where used.
"""

from ksmith.metrics.case import METRICS, compute, metric_name
from ksmith.metrics.record import Metric

__all__ = ["METRICS", "Metric", "compute", "metric_name"]

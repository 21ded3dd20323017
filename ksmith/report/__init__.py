"""Result records, leaderboards (tabulate), the HTML page, merging runs and the regression gate."""

from ksmith.report.compare import Comparison, Regression, Tolerance, compare_runs, parse_fail_on, render_comparison
from ksmith.report.leaderboard import render_csv, render_json, render_markdown, render_terminal
from ksmith.report.records import CaseResult, MetricValue, ReportError, merge_results, read_results
from ksmith.report.run import merge_runs, new_run_id, point_latest, regenerate, write_run

__all__ = [
    "CaseResult",
    "Comparison",
    "MetricValue",
    "Regression",
    "ReportError",
    "Tolerance",
    "compare_runs",
    "merge_results",
    "merge_runs",
    "new_run_id",
    "parse_fail_on",
    "point_latest",
    "read_results",
    "regenerate",
    "render_comparison",
    "render_csv",
    "render_json",
    "render_markdown",
    "render_terminal",
    "write_run",
]

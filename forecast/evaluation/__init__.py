"""Evaluation: rolling-origin backtests, the baselines they compare against, the scores, the report."""

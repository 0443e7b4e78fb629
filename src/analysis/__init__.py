"""Analysis of finished runs' scores: few-seed statistics and export to other evaluation tools."""

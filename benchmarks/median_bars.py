"""The bar chart of the side-by-side speed benchmarks: each implementation's median as a bar, its
runs as dots."""

from __future__ import annotations


def plot_median_bars(rows: list[dict], medians: dict[str, float], path: str, ylabel: str, title: str) -> None:
    """Bars of ``medians`` (implementation -> value) over the ``steps_per_second`` of the ``rows``
    of each implementation (``row["impl"]``); written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    impls = list(medians)
    fig, ax = plt.subplots(figsize=(max(5, 2 * len(impls)), 4))
    colours = ["tab:gray" if impl in ("epymarl", "harl") else "tab:blue" for impl in impls]  # theirs grey
    ax.bar(impls, [medians[i] for i in impls], color=colours, alpha=0.6, label="median")
    for x, impl in enumerate(impls):
        values = [r["steps_per_second"] for r in rows if r["impl"] == impl]
        ax.scatter([x] * len(values), values, color="black", zorder=3, s=15, label="runs" if x == 0 else None)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)

"""PNG plots of the diagnostics (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

_COLORS = {"video": "#4C72B0", "audio": "#DD8452", "text": "#8C8C8C"}


def likelihood_shift_plot(task: str, shifts: dict[str, list[float]], path: Path) -> Path:
    """Histogram of log p(correct | intact) - log p(correct | ablated) per condition (one panel each)."""
    conds = [c for c, v in shifts.items() if v]
    n = max(1, len(conds))
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows + 0.4), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(conds):]:
        ax.set_visible(len(conds) == 0 and ax is flat[0])
    for ax, cond in zip(flat, conds, strict=False):
        values = shifts[cond]
        ax.hist(values, bins=min(30, max(5, len(values) // 2)), color="#4C72B0", alpha=0.85)
        ax.axvline(0.0, color="black", linewidth=0.8)
        mean = sum(values) / len(values)
        ax.axvline(mean, color="#C44E52", linestyle="--", linewidth=1.0, label=f"mean {mean:+.3f}")
        ax.set_title(cond, fontsize=10)
        ax.set_xlabel("Δ log p(correct)\n(intact − ablated)", fontsize=8)
        ax.legend(fontsize=7)
        ax.set_ylabel("docs", fontsize=8)
    if not conds:
        flat[0].text(0.5, 0.5, "no scored docs", ha="center", va="center")
    fig.suptitle(f"{task}: likelihood shift of the correct answer", fontsize=11)
    return _save(fig, path)


def attention_plot(task: str, info: dict[str, Any], path: Path) -> Path:
    """Stacked bar of the average attention share per token type, and the share per layer."""
    types = list(info["share"])
    layers = info["per_layer"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.2), gridspec_kw={"width_ratios": [1, 2.5]})
    bottom = 0.0
    for t in types:
        ax1.bar([0], [info["share"][t]], bottom=bottom, color=_COLORS.get(t), label=t)
        ax1.text(0, bottom + info["share"][t] / 2, f"{100 * info['share'][t]:.1f}%", ha="center", va="center",
                 fontsize=8)
        bottom += info["share"][t]
    ax1.set_xticks([0], ["all layers"])
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("share of attention")
    ax1.legend(fontsize=7, loc="upper right")
    x = list(range(len(layers)))
    ax2.stackplot(x, *[[row[t] for row in layers] for t in types], labels=types,
                  colors=[_COLORS.get(t) for t in types], alpha=0.9)
    ax2.set_xlim(0, max(1, len(layers) - 1))
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("decoder layer")
    ax2.set_title("per layer", fontsize=9)
    fig.suptitle(f"{task}: attention from the answer positions ({info['n_docs']} docs)", fontsize=11)
    return _save(fig, path)


def accuracy_plot(rows: dict[str, dict[str, dict[str, Any]]], metric: str, path: Path) -> Path:
    """Grouped bars: the metric per task under each condition, with the bootstrap CIs."""
    tasks = list(rows)
    conds = list(next(iter(rows.values()))) if rows else []
    width = 0.8 / max(1, len(conds))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(tasks) + 2), 3.4))
    for j, cond in enumerate(conds):
        xs, ys, lo, hi = [], [], [], []
        for i, task in enumerate(tasks):
            cell = rows[task].get(cond, {})
            v = cell.get("value")
            if v is None:
                continue
            ci = cell.get("ci") or [v, v]
            xs.append(i + (j - (len(conds) - 1) / 2) * width)
            ys.append(v)
            lo.append(max(0.0, v - ci[0]) if ci[0] == ci[0] else 0.0)
            hi.append(max(0.0, ci[1] - v) if ci[1] == ci[1] else 0.0)
        ax.bar(xs, ys, width=width, yerr=[lo, hi], capsize=2, label=cond)
    ax.set_xticks(range(len(tasks)), [t.replace("_", "\n") for t in tasks], fontsize=7)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, ncol=min(6, max(1, len(conds))), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    """Lay out, write as PNG (creating the folder) and free the figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

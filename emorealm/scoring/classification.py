"""Classification metrics of the emotion-recognition tasks (DFEW, RAVDESS) and their figure.

All metrics are fractions in 0–1 and follow scikit-learn's definitions exactly (tests compare
them), computed here in plain Python so an invalid prediction (``None``: an unmappable answer or
a failed sample) simply counts as wrong without becoming a class of its own:

* ``acc`` = ``war``: correct / all samples (``accuracy_score``; ``recall_score(average="weighted")``)
* ``uar``: mean recall over the classes present in the gold labels (``balanced_accuracy_score``)
* ``macro_f1``: mean F1 over the classes seen in gold or (valid) predictions, which is
  ``f1_score(average="macro")`` with those labels; a never-predicted class scores F1 = 0
* ``per_class_recall`` and the confusion matrix (rows gold, columns predicted, then ``invalid``)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

INVALID = "invalid"


@dataclass
class ClassificationReport:
    """Every figure of one task, JSON-able via :meth:`as_dict`."""

    labels: list[str]
    n: int
    acc: float
    war: float
    uar: float
    macro_f1: float
    invalid_rate: float
    per_class_recall: dict[str, float | None]
    per_class_f1: dict[str, float | None]
    support: dict[str, int]
    confusion_matrix: list[list[int]]  # rows: labels; columns: labels + [INVALID]
    columns: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def classification_report(
    gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]
) -> ClassificationReport:
    """Compute every metric from gold labels and predictions (``None`` = invalid).

    ``labels`` fixes the class order of the confusion matrix and the per-class tables. A gold
    label outside ``labels`` is a programming error (loaders never produce one) and raises.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    labels = list(labels)
    index = {c: i for i, c in enumerate(labels)}
    for g in gold:
        if g not in index:
            raise ValueError(f"gold label {g!r} is not one of {labels}")
    k = len(labels)
    cm = [[0] * (k + 1) for _ in range(k)]
    for g, p in zip(gold, pred, strict=True):
        col = index.get(p, k) if p is not None else k  # an out-of-set prediction is invalid too
        cm[index[g]][col] += 1
    n = len(gold)
    tp = [cm[i][i] for i in range(k)]
    support = [sum(cm[i]) for i in range(k)]
    predicted = [sum(cm[r][i] for r in range(k)) for i in range(k)]
    n_invalid = sum(cm[r][k] for r in range(k))
    correct = sum(tp)
    recall = [tp[i] / support[i] if support[i] else None for i in range(k)]
    present = [i for i in range(k) if support[i]]
    seen = [i for i in range(k) if support[i] or predicted[i]]
    f1 = [_safe_div(2 * tp[i], support[i] + predicted[i]) if (support[i] or predicted[i]) else None for i in range(k)]
    acc = _safe_div(correct, n)
    return ClassificationReport(
        labels=labels,
        n=n,
        acc=acc,
        war=acc,
        uar=_safe_div(sum(recall[i] for i in present), len(present)),
        macro_f1=_safe_div(sum(f1[i] for i in seen), len(seen)),
        invalid_rate=_safe_div(n_invalid, n),
        per_class_recall={labels[i]: recall[i] for i in range(k)},
        per_class_f1={labels[i]: f1[i] for i in range(k)},
        support={labels[i]: support[i] for i in range(k)},
        confusion_matrix=cm,
        columns=labels + [INVALID],
    )


def plot_confusion_matrix(report: ClassificationReport, path: str | Path, title: str = "") -> Path:
    """Write the confusion matrix as a PNG (rows gold, columns predicted; recall-normalised colour)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cm = report.confusion_matrix
    k = len(report.labels)
    norm = [[v / max(1, sum(row)) for v in row] for row in cm]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * (k + 1), 1.0 + 0.7 * k), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for r in range(k):
        for c in range(k + 1):
            ax.text(c, r, str(cm[r][c]), ha="center", va="center", fontsize=8,
                    color="white" if norm[r][c] > 0.5 else "black")
    ax.set_xticks(range(k + 1), report.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), report.labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title or f"UAR {report.uar:.1%}  WAR {report.war:.1%}  n={report.n}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

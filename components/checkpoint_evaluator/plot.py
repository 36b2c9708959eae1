"""Train and eval curves with the selected checkpoint marked, as a PNG."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display in pipelines or CI
import matplotlib.pyplot as plt  # noqa: E402


def _shade_stages(ax, scores: list) -> None:
  """Transfer learning in stages: a band per stage, labelled with the layers of
  the base that trained in it."""
  staged = [s for s in scores if getattr(s, "stage", None)]
  if not staged:
    return
  start = 0
  for stage in sorted({s.stage for s in staged}):
    mine = [s for s in staged if s.stage == stage]
    end = max(s.step for s in mine)
    ax.axvspan(start, end, color=f"C{stage % 10}", alpha=0.08)
    ax.text((start + end) / 2, 0.02, f"stage {stage}\n{mine[0].unfrozen} layers",
            transform=ax.get_xaxis_transform(), ha="center", fontsize=8)
    start = end


def plot_curves(train_loss: list, scores: list, selected, metric: str) -> bytes:
  """PNG bytes, so that callers can write them anywhere gfile can (local or GCS)."""
  fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
  if train_loss:
    steps, losses = zip(*train_loss)
    ax_loss.plot(steps, losses, "o-", label="train loss")
  ax_loss.plot([s.step for s in scores], [s.metrics["loss"] for s in scores], "s-",
               label="eval loss")
  ax_loss.axvline(selected.step, color="grey", linestyle="--", label=f"selected (step {selected.step})")
  ax_loss.set(xlabel="step", ylabel="loss", title="Loss per checkpoint")
  ax_loss.legend()
  ax_metric.plot([s.step for s in scores], [s.metrics[metric] for s in scores], "s-")
  ax_metric.plot([selected.step], [selected.metrics[metric]], "r*", markersize=14,
                 label=f"selected: {metric} {selected.metrics[metric]:.4f}")
  ax_metric.set(xlabel="step", ylabel=metric, title=f"Eval {metric} per checkpoint")
  _shade_stages(ax_metric, scores)
  ax_metric.legend()
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=100)
  plt.close(fig)
  return buf.getvalue()

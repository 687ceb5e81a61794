"""Mirror run records to experiment trackers: ``--report-to tensorboard`` or ``trackio``.

The run directory stays the source of truth; a tracker gets a copy of every
numeric value of every record. A tracker that is not installed is a clear
error at the start of the run, not a crash later.
"""

from __future__ import annotations

from pathlib import Path

TRACKERS = ("tensorboard", "trackio")


class Reporter:
    def __init__(self, kinds: str, run_dir: Path, name: str, config: dict):
        self.writers = []
        for kind in [k.strip() for k in kinds.split(",") if k.strip()]:
            if kind not in TRACKERS:
                raise ValueError(f"--report-to {kind!r}: use one of {', '.join(TRACKERS)}")
            if kind == "tensorboard":
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError:
                    raise ValueError("--report-to tensorboard needs the tensorboard package "
                                     "(pip install tensorboard)") from None
                self.writers.append(("tensorboard", SummaryWriter(log_dir=str(run_dir / "tensorboard"))))
            else:
                try:
                    import trackio
                except ImportError:
                    raise ValueError("--report-to trackio needs the trackio package (pip install trackio)") from None
                trackio.init(project="hicra-lab", name=name, config=config)
                self.writers.append(("trackio", trackio))

    def log(self, record: dict) -> None:
        values = {k: v for k, v in record.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "time")}
        for kind, writer in self.writers:
            if kind == "tensorboard":
                for key, value in values.items():
                    writer.add_scalar(key, value, record["step"])
            else:
                writer.log(values, step=record["step"])

    def close(self) -> None:
        for kind, writer in self.writers:
            if kind == "tensorboard":
                writer.close()
            else:
                writer.finish()

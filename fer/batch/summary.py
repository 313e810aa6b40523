"""What a batch run did, counted as its inputs finish: the line the command ends with, and its exit code."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Summary:
    inputs: int = 0  # found
    skipped: int = 0  # already had results in out
    processed: int = 0  # done by this run
    readable: int = 0  # of those, gave at least one analysed frame
    errors: int = 0  # of those, have an error row
    lost: int = 0  # of those, a worker died on (their error row says so)
    faces: int = 0  # face rows written
    frames: int = 0  # frames analysed (an image is one)
    seconds: float = 0.0
    out: str = ""
    error_paths: list[str] = field(default_factory=list)

    @property
    def files_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def count_input(self, rows: list[dict]) -> None:
        """Count one finished input from its final rows."""
        self.processed += 1
        self.faces += sum(r.get("face") is not None for r in rows)
        if any(r.get("error") for r in rows):
            self.errors += 1
            self.error_paths.append(rows[0]["path"])
        if any(not r.get("error") for r in rows):
            self.readable += 1

    def line(self) -> str:
        lost = f", {self.lost} lost to worker crashes" if self.lost else ""
        return (f"{self.processed} files analysed ({self.skipped} already done, {self.errors} with errors{lost}), "
                f"{self.frames} frames, {self.faces} faces in {self.seconds:.1f} s "
                f"({self.files_per_s:.2f} files/s, {self.frames_per_s:.1f} frames/s) -> {self.out}")

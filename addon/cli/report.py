"""What a batch prints: a progress bar on a terminal, one line per frame in farm logs, a closing summary.

Everything human goes to stderr; ``--json`` puts one JSON summary on stdout, so pipeline tools read stdout
while the farm log keeps the lines. A failed frame is always printed with its file and reason. Which model
runs, and why, is printed once, when the first frame is done (``denoise: denoise_kpn_color (the input has no
albedo/normal passes; render with Denoising Data for better results)``).
"""
from __future__ import annotations

import json
import sys

from ..runtime.batch import FrameJob, FrameResult, Summary
from ..runtime.sequence import format_frames


class Report:
    def __init__(self, task: str, *, quiet: bool, as_json: bool, show_worker: bool):
        self.task, self.quiet, self.as_json, self.show_worker = task, quiet, as_json, show_worker
        self.stream, self.out = sys.stderr, sys.stdout
        self.bar = None
        self.on_terminal = not quiet and self.stream.isatty()
        self.choice_said = False

    def start(self, jobs: list[FrameJob], output: str) -> None:
        if self.quiet:
            return
        if self.on_terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=len(jobs), unit="frame", file=self.stream, dynamic_ncols=True,
                            desc=f"postpass {self.task}")
        else:
            self._print(f"postpass {self.task}: {_count(len(jobs))} ({_frames(jobs)}) -> {output}")

    def frame(self, result: FrameResult) -> None:
        if result.choice and not self.choice_said:
            self.choice_said = True
            if not self.quiet:
                self._say(result.choice)
        if result.status != "failed" and (self.quiet or self.bar is not None):
            if self.bar is not None:
                self.bar.update(1)
            return
        line = frame_line(result, self.show_worker)
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            self._print(line)

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self._print(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self, summary: Summary) -> None:
        if not self.quiet:
            for line in summary_lines(summary):
                self._print(line)
        if self.as_json:
            print(json.dumps(summary.to_dict()), file=self.out, flush=True)

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


def frame_line(result: FrameResult, show_worker: bool = False) -> str:
    """``frame 1001 done in 0.41 s (denoise_aux, CPU) -> out.1001.exr``, one line whatever happened."""
    where = f" on {result.worker}" if show_worker and result.worker else ""
    redone = f" (redone: {result.output}: {result.redone})" if result.redone else ""
    if result.status == "failed":
        return f"{result.label} FAILED{where}: {result.reason}{redone}"
    if result.status == "skipped":
        return f"{result.label} skipped ({result.reason}): {result.output}"
    provider = result.provider.replace("ExecutionProvider", "")
    zeroed = f", {result.nonfinite} NaN/Inf set to 0" if result.nonfinite else ""
    return (f"{result.label} done in {result.seconds:.2f} s ({result.model}, {provider}{zeroed}){where} "
            f"-> {result.output}{redone}")


def summary_lines(summary: Summary) -> list[str]:
    """The closing lines: counts, rate and exit code, then which frames, then each failure again."""
    counts = f"{len(summary.done)} done, {len(summary.skipped)} skipped, {len(summary.failed)} failed"
    if summary.not_run:
        counts += f", {len(summary.not_run)} not run"
    state = "interrupted; " if summary.interrupted else ""
    lines = [f"postpass {summary.task}: {counts} of {_count(len(summary.jobs))} in {summary.seconds:.1f} s "
             f"({summary.frames_per_second:.2f} frames/s); {state}exit {summary.exit_code}"]
    for name, items in (("done", summary.done), ("skipped", summary.skipped), ("failed", summary.failed),
                        ("not run", summary.not_run), ("redone (existing output unusable)", summary.redone)):
        if items:
            lines.append(f"  {name}: {_frames(items)}")
    lines += [f"  {r.label}: {r.reason}" for r in summary.failed]
    # a notice once per run, with the frames it concerns (a task's notes are per frame: colorize's grey fallback)
    lines += [f"  note ({_count(len(items))}: {_frames(items)}): {note}" for note, items in summary.notes.items()]
    return lines


def _count(n: int) -> str:
    return f"{n} frame" + ("" if n == 1 else "s")


def _frames(items) -> str:
    """Frame numbers as ranges; file names for frames without a number."""
    numbered = [i.frame for i in items if i.frame is not None]
    named = [i.label for i in items if i.frame is None]
    return ",".join(filter(None, [format_frames(numbered), *named])) or "none"

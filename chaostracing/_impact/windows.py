"""The windows of a run: baseline, during, after, and recovery.

- **baseline**: the ``baseline`` seconds before the method starts (the
  steady-state hypothesis before the method falls inside it), clipped to
  where data exists (:meth:`Windows.clipped`);
- **during**: from the method's start to its end;
- **after**: from the method's end to the end of the run (the hypothesis
  after the method, the rollbacks);
- **recovery**: the ``recovery`` seconds after the run, when asked for.

A span belongs to the window its start falls in (each window holds its
start and not its end, so a span is in one window at most), except a span
of the baseline still under way when the method starts: it counts in no
window. The fault may have reached it, so it is not the baseline's (a
request begun just before the fault and failed by it); nor is it the
method's: those spans are the long ones (a span is under way at a given
instant in proportion to its length), and with them the method's sample
would look slower with no fault at all. A run without a fault, with
heavy-tailed latencies and a method of 0.5 to 10 s, is judged unchanged
(``tests/test_impact.py``).

The times come from the run itself (:class:`RunTimes`): the control's own
spans (the ``Method`` span, the experiment's span), or the control's clock
during a run, or, for a run made without the control, the journal's
timestamps. A journal has no record of the method as a whole, only of its
activities: the method starts where the hypothesis before it ended (else
where the run started) and ends where the hypothesis after it, else the
rollbacks, started (else where the run ended), so that the pauses of its
activities are inside it.
"""
import bisect
from typing import Any, Iterable, List, Mapping, NamedTuple, Optional, Tuple

from chaostracing._data.inputs import journal_time
from chaostracing._data.model import SpanData, parse_id
from chaostracing._data.tags import CHAOSTOOLKIT_TYPE

__all__ = ["RunTimes", "Window", "Windows", "from_journal", "journal_trace_id",
           "make"]

#: the windows' names, in the order of time
NAMES = ("baseline", "during", "after", "recovery")


class Window(NamedTuple):
    """``[start_us, end_us)``, microseconds since the epoch."""

    name: str
    start_us: int
    end_us: int

    @property
    def seconds(self) -> float:
        return max(self.end_us - self.start_us, 0) / 1e6


class RunTimes(NamedTuple):
    """When a run's method started and ended, and when the run ended
    (microseconds since the epoch)."""

    method_start_us: int
    method_end_us: int
    run_end_us: int


class Windows(NamedTuple):
    """The windows of one run, contiguous, in the order of time."""

    baseline: Window
    during: Window
    after: Window
    #: None unless a recovery was asked for
    recovery: Optional[Window] = None

    @property
    def all(self) -> List[Window]:
        return [w for w in self if w is not None]

    @property
    def judged_for_recovery(self) -> Window:
        """The window compared with the baseline to say whether an impacted
        unit recovered: the recovery window when there is one, else after."""
        return self.recovery if self.recovery is not None else self.after

    @property
    def start_us(self) -> int:
        return self.baseline.start_us

    @property
    def end_us(self) -> int:
        return self.all[-1].end_us

    def finder(self) -> "WindowFinder":
        return WindowFinder(self.all)

    def clipped(self, earliest_us: int) -> "Windows":
        """The baseline starting no earlier than ``earliest_us``, the first
        span's start in the data: before it, the back-end knows nothing,
        and an empty stretch would read as a lower rate of calls."""
        start = min(max(self.baseline.start_us, earliest_us),
                    self.baseline.end_us)
        return self._replace(baseline=self.baseline._replace(start_us=start))


class WindowFinder:
    """Which window a span falls in: by its start, found by bisection over
    the windows' bounds; none for a span of the baseline still under way
    when the method starts."""

    __slots__ = ("_bounds", "_names", "_end", "_method_start")

    def __init__(self, windows: List[Window]) -> None:
        self._bounds = [w.start_us for w in windows]
        self._names = [w.name for w in windows]
        self._end = windows[-1].end_us
        self._method_start = windows[1].start_us

    def __call__(self, start_us: int, end_us: Optional[int] = None
                 ) -> Optional[str]:
        """The window of a span from ``start_us`` to ``end_us`` (without
        an end: of an instant)."""
        if start_us >= self._end:
            return None
        index = bisect.bisect_right(self._bounds, start_us) - 1
        if index < 0:
            return None
        if index == 0 and end_us is not None and end_us > self._method_start:
            return None
        return self._names[index]


def make(times: RunTimes, baseline_s: float, recovery_s: float = 0
         ) -> Windows:
    """The windows of a run of ``times``: ``baseline_s`` seconds of
    baseline, and ``recovery_s`` of recovery (0: none)."""
    method_start = times.method_start_us
    method_end = max(times.method_end_us, method_start)
    run_end = max(times.run_end_us, method_end)
    recovery = None
    if recovery_s > 0:
        recovery = Window("recovery", run_end,
                          run_end + int(recovery_s * 1e6))
    return Windows(
        Window("baseline", method_start - int(baseline_s * 1e6),
               method_start),
        Window("during", method_start, method_end),
        Window("after", method_end, run_end),
        recovery)


def from_journal(journal: Mapping[str, Any],
                 spans: Iterable[SpanData] = ()) -> RunTimes:
    """When the journal's run had its method, from the run's own trace when
    ``spans`` hold it (the trace id the journal's ``chaostracing`` entry
    names), else from the journal's timestamps.

    :raises ValueError: when the journal has no time of its method.
    """
    traced = _from_trace(journal, spans)
    if traced is not None:
        return traced
    start, end = journal_time(journal.get("start")), \
        journal_time(journal.get("end"))
    runs = [r for r in journal.get("run") or () if isinstance(r, dict)]
    states = journal.get("steady_states")
    states = states if isinstance(states, dict) else {}
    before = _probe_times(states.get("before"))
    after = _probe_times(states.get("after"))
    rollbacks = [r for r in journal.get("rollbacks") or ()
                 if isinstance(r, dict)]
    run_starts = [journal_time(r.get("start")) for r in runs]
    run_ends = [journal_time(r.get("end")) for r in runs]
    method_start = max((e for _, e in before), default=0) or start or \
        min((t for t in run_starts if t), default=0)
    candidates = [s for s, _ in after] + [journal_time(r.get("start"))
                                          for r in rollbacks]
    method_end = min((t for t in candidates if t), default=0) or end or \
        max(run_ends, default=0)
    method_end = max([method_end] + run_ends)
    if not method_start or not method_end:
        raise ValueError("the journal has no time of its method (no start, "
                         "end or activities): is it a Chaos Toolkit journal?")
    return RunTimes(method_start, method_end, max(end, method_end))


def _probe_times(state: Any) -> List[Tuple[int, int]]:
    if not isinstance(state, dict):
        return []
    return [(journal_time(p.get("start")), journal_time(p.get("end")))
            for p in state.get("probes") or () if isinstance(p, dict)]


def _from_trace(journal: Mapping[str, Any],
                spans: Iterable[SpanData]) -> Optional[RunTimes]:
    trace_id = journal_trace_id(journal)
    if trace_id is None:
        return None
    method = experiment = None
    for span in spans:
        if span.trace_id != trace_id:
            continue
        level = span.tags.get(CHAOSTOOLKIT_TYPE)
        if level == "method":
            method = span
        elif level == "experiment":
            experiment = span
    if method is None:
        return None
    run_end = experiment.end_us if experiment is not None else method.end_us
    return RunTimes(method.start_us, method.end_us, max(run_end,
                                                        method.end_us))


def journal_trace_id(journal: Mapping[str, Any]) -> Optional[int]:
    """The run's trace id, as its journal's ``chaostracing`` entry names
    it (None: none)."""
    for entry in journal.get("extensions") or ():
        if isinstance(entry, dict) and entry.get("name") == "chaostracing":
            try:
                return parse_id(entry.get("trace_id"), 128)
            except ValueError:
                return None
    return None

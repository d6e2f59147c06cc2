"""Replays a day of lecture uploads through two autoscaling rules and compares what they cost.

  old rule   the seeds' SQS autoscaler (a Lambda every minute): desired = in-flight + visible
             messages, clamped to [min, max]; no scale-in while anything is visible or in
             flight; scale to min after a stable-zero period. A worker holds its message
             in flight for the whole transcode (3 h visibility timeout); when the machine dies
             the message stays in flight, invisible, until those 3 h run out.
  vodforge   vodforge.domain.scaling.decide_workers on backlog (QUEUED + RETRY_WAIT) and
             RUNNING jobs, read every minute; scale-in removes idle machines only. A dead
             worker's lease expires after 30 s, the scanner (every 5 s) puts the job in
             RETRY_WAIT with backoff, and any worker takes it.

Both see the same uploads, the same transcode times and the same machine deaths; both launch
machines that take BOOT_S to become useful, and an autoscaling group replaces a dead machine.
One second per step, seeded, no I/O but the plot.

    .venv/bin/python -m bench.scaling.simulate [--seed N] [--plot PATH]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from vodforge.domain.retry import RetryPolicy
from vodforge.domain.scaling import ScalingPolicy, decide_workers

DAY_S = 24 * 3600
BOOT_S = 180  # launch, boot, pull the image, start the worker
EVAL_S = 60  # both autoscalers decide once a minute
MIN_MACHINES, MAX_MACHINES = 0, 10
STABLE_ZERO_S = 600  # both wait this long at zero before scaling to zero
VISIBILITY_S = 3 * 3600  # the seeds' SQS visibility timeout
LEASE_TTL_S, SCAN_S = 30, 5  # vodforge defaults (SPEC §2)
CRASH_P = 0.03  # per attempt: spot interruption, OOM, a kernel panic
# (class end hour, expected uploads): an academy's lecturers upload right after class,
# most of them in the evening classes.
CLASS_ENDS = [(10, 12), (12, 15), (14, 15), (16, 20), (18, 25), (20, 30), (22, 30)]
TRICKLE_PER_H = {"day": 3.0, "night": 0.5}  # uploads at other times (8-24 h: day)
LECTURE_MEDIAN_S, LECTURE_SIGMA = 50 * 60, 0.45  # lognormal lecture length
SPEED = (4.0, 6.0)  # transcode speed, times real time, for the default ladder on one machine


@dataclass
class Upload:
    id: int
    at: float
    work_s: float  # transcode time on one slot
    # Per attempt: the fraction of the work done when the machine dies (None: it does not).
    deaths: list[float | None]


@dataclass
class Job:
    upload: Upload
    available_at: float  # visible again / run_after
    attempt: int = 0
    started_at: float | None = None
    machine: Machine | None = None
    ends_at: float | None = None  # the attempt's finish, or the machine's death
    lease_until: float | None = None  # vodforge: a dead machine's job stays RUNNING till then
    worked_s: float = 0.0
    done_at: float | None = None


@dataclass
class Machine:
    id: int
    launched_at: float
    slots: int
    jobs: list[Job] = field(default_factory=list)
    gone_at: float | None = None

    def ready(self, now: float) -> bool:
        return now >= self.launched_at + BOOT_S

    def free(self, now: float) -> int:
        return self.slots - len(self.jobs) if self.ready(now) else 0


def make_day(seed: int) -> list[Upload]:
    rng = random.Random(seed)
    times: list[float] = []
    for hour, expected in CLASS_ENDS:
        for _ in range(_poisson(rng, expected)):
            times.append(hour * 3600 + rng.lognormvariate(math.log(8 * 60), 0.7))
    t = 0.0
    while t < DAY_S:
        rate = TRICKLE_PER_H["day" if t >= 8 * 3600 else "night"] / 3600
        t += rng.expovariate(rate)
        times.append(t)
    uploads = []
    for n, at in enumerate(sorted(x for x in times if x < DAY_S)):
        length = min(
            max(rng.lognormvariate(math.log(LECTURE_MEDIAN_S), LECTURE_SIGMA), 300), 3 * 3600
        )
        deaths = [rng.random() if rng.random() < CRASH_P else None for _ in range(10)]
        uploads.append(Upload(n, at, length / rng.uniform(*SPEED), deaths))
    return uploads


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


@dataclass
class Result:
    label: str
    slots: int
    jobs: list[Job]
    machines: list[Machine]
    samples: list[tuple[float, int, int, int]]  # (t, waiting, machines, in-flight signal)
    idle_machine_s: float = 0.0

    def machine_minutes(self, end: float) -> float:
        return sum((m.gone_at or end) - m.launched_at for m in self.machines) / 60

    def waits_min(self) -> list[float]:
        # Time not being worked on between upload and done: queueing, boots, invisible
        # messages and retry waits, not the transcode itself.
        return [((j.done_at or 0) - j.upload.at - j.worked_s) / 60 for j in self.jobs if j.done_at]


class Fleet:
    """Machines and jobs under one rule, stepped one second at a time."""

    def __init__(self, label: str, uploads: list[Upload], slots: int, old_rule: bool) -> None:
        self.label, self.slots, self.old_rule = label, slots, old_rule
        self.pending = list(uploads)
        self.jobs: list[Job] = []
        self.active: list[Job] = []  # not done yet: the only ones a step looks at
        self.machines: list[Machine] = []
        self.desired = MIN_MACHINES
        self.zero_since: float | None = 0.0
        self.last_event: float | None = None  # the last job transition (None: none yet)
        self.retry = RetryPolicy()
        self.policy = ScalingPolicy(MIN_MACHINES, MAX_MACHINES, slots, STABLE_ZERO_S)
        self.samples: list[tuple[float, int, int, int]] = []
        self.idle_machine_s = 0.0
        self.rng = random.Random(7)

    def live(self) -> list[Machine]:
        return [m for m in self.machines if m.gone_at is None]

    def step(self, now: float) -> None:
        while self.pending and self.pending[0].at <= now:
            job = Job(self.pending.pop(0), available_at=now)
            self.jobs.append(job)
            self.active.append(job)
            self.last_event = now
        for machine in self.live():
            for job in list(machine.jobs):
                if job.ends_at is not None and now >= job.ends_at:
                    self._end_attempt(machine, job, now)
        if not self.old_rule:
            for job in self.active:
                if job.lease_until is not None and now >= job.lease_until:
                    # The scanner finds the expired lease: RETRY_WAIT with backoff.
                    job.lease_until, job.machine = None, None
                    job.available_at = now + self.retry.delay_s(job.attempt, self.rng)
                    self.last_event = now
        self._claim(now)
        if now % EVAL_S == 0:
            self._scale(now)
        live = self.live()
        self.idle_machine_s += sum(1 for m in live if not m.jobs)
        if now % 60 == 0:
            self.samples.append((now, len(self._waiting()), len(live), self._in_flight(now)))

    def _end_attempt(self, machine: Machine, job: Job, now: float) -> None:
        assert job.started_at is not None
        job.worked_s += now - job.started_at
        died = job.upload.deaths[job.attempt - 1] is not None
        if not died:
            machine.jobs.remove(job)
            self.active.remove(job)
            job.done_at, job.machine, job.ends_at = now, None, None
            self.last_event = now
            return
        # The machine dies with every job on it; the group replaces it (a fresh boot).
        machine.gone_at = now
        for lost in machine.jobs:
            if lost is not job:
                assert lost.started_at is not None
                lost.worked_s += now - lost.started_at
            lost.ends_at = None
            if self.old_rule:
                # In flight and invisible until the visibility timeout from its receive.
                assert lost.started_at is not None
                lost.available_at = lost.started_at + VISIBILITY_S
                lost.machine = None
            else:
                # RUNNING (its dead machine still counted busy) until the scanner sees the
                # lease expired.
                lost.lease_until = now + LEASE_TTL_S + self.rng.uniform(0, SCAN_S)
        machine.jobs = []
        self._launch(now, 1)

    def _waiting(self) -> list[Job]:
        """Uploaded and not being worked on: queued, retrying, or (old rule) invisible."""
        return [j for j in self.active if j.ends_at is None and j.lease_until is None]

    def _in_flight(self, now: float) -> int:
        """The old rule's in-flight count: received and not deleted (running, or stranded
        with a dead machine until the visibility timeout)."""
        running = sum(1 for j in self.active if j.ends_at is not None)
        stranded = sum(1 for j in self._waiting() if j.attempt and j.available_at > now)
        return running + stranded if self.old_rule else running

    def _claim(self, now: float) -> None:
        ready = sorted(
            (j for j in self._waiting() if j.available_at <= now), key=lambda j: j.available_at
        )
        for machine in self.live():
            while ready and machine.free(now) > 0:
                job = ready.pop(0)
                job.attempt += 1
                job.started_at, job.machine = now, machine
                death = job.upload.deaths[job.attempt - 1]
                # A retried transcode starts over: there is no resume.
                length = job.upload.work_s
                job.ends_at = now + (length * death if death is not None else length)
                machine.jobs.append(job)
                self.last_event = now

    def _scale(self, now: float) -> None:
        self.desired = self._old_rule(now) if self.old_rule else self._vodforge_rule(now)
        live = self.live()
        if len(live) < self.desired:
            self._launch(now, self.desired - len(live))
        elif len(live) > self.desired:
            # Idle machines go, booting ones first; a busy one never does.
            idle_ones = sorted((m for m in live if not m.jobs), key=lambda m: -m.launched_at)
            for machine in idle_ones[: len(live) - self.desired]:
                machine.gone_at = now

    def _old_rule(self, now: float) -> int:
        """The seeds' Lambda: in-flight + visible, scale out only while either is non-zero
        (their fact sheet, 1.2 and 1.3), to min after a stable zero."""
        visible = sum(1 for j in self._waiting() if j.available_at <= now)
        in_flight = self._in_flight(now)
        if visible or in_flight:
            self.zero_since = None
            return max(self.desired, min(max(in_flight + visible, MIN_MACHINES), MAX_MACHINES))
        if self.zero_since is None:
            self.zero_since = now
        return MIN_MACHINES if now - self.zero_since >= STABLE_ZERO_S else self.desired

    def _vodforge_rule(self, now: float) -> int:
        """The product's own decision on what the scaling signal reads from the database."""
        waiting = self._waiting()
        running = [j for j in self.active if j.ends_at is not None or j.lease_until]
        idle_for = None
        if not waiting and not running and self.last_event is not None:
            idle_for = now - self.last_event
        return decide_workers(
            backlog=len(waiting),
            running=len(running),
            busy_workers=len({id(j.machine) for j in running}),
            idle_for_s=idle_for,
            policy=self.policy,
        ).desired_workers

    def _launch(self, now: float, count: int) -> None:
        for _ in range(count):
            self.machines.append(Machine(len(self.machines), now, self.slots))

    def done(self) -> bool:
        return not self.pending and not self.active and not self.live()


def simulate(label: str, uploads: list[Upload], slots: int, old_rule: bool) -> tuple[Result, float]:
    fleet = Fleet(label, uploads, slots, old_rule)
    now = 0.0
    while now < DAY_S or not fleet.done():
        fleet.step(now)
        now += 1
        if now > DAY_S + 12 * 3600:
            break
    result = Result(label, slots, fleet.jobs, fleet.machines, fleet.samples, fleet.idle_machine_s)
    return result, now


def table(results: list[tuple[Result, float]]) -> str:
    head = (
        f"{'rule':<44} {'jobs':>5} {'machine-min':>11} {'slot-min':>9} {'idle m-min':>10} "
        f"{'wait p50':>9} {'wait p95':>9} {'wait max':>9} {'peak':>5}"
    )
    lines = [head, "-" * len(head)]
    for result, end in results:
        waits = result.waits_min()
        cuts = statistics.quantiles(waits, n=100)
        machine_min = result.machine_minutes(end)
        peak = max(machines for _, _, machines, _ in result.samples)
        lines.append(
            f"{result.label:<44} {len(waits):>5} {machine_min:>11,.0f} "
            f"{machine_min * result.slots:>9,.0f} {result.idle_machine_s / 60:>10,.0f} "
            f"{cuts[49]:>7.1f} m {cuts[94]:>7.1f} m {max(waits):>7.1f} m {peak:>5}"
        )
    return "\n".join(lines)


def plot(results: list[tuple[Result, float]], uploads: list[Upload], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [1, 2, 2]}
    )
    top.hist(
        [_hours(u.at) for u in uploads], bins=[h / 6 for h in range(0, 24 * 6 + 1)], color="0.5"
    )
    top.set_ylabel("uploads / 10 min")
    styles = ["tab:red", "tab:blue", "tab:green"]
    for (result, _), colour in zip(results, styles, strict=False):
        t = [_hours(s[0]) for s in result.samples]
        middle.plot(t, [s[1] for s in result.samples], color=colour, label=result.label)
        bottom.step(
            t, [s[2] for s in result.samples], where="post", color=colour, label=result.label
        )
        if result.label.startswith("old"):
            middle.plot(
                t, [s[3] for s in result.samples], color=colour, linestyle=":", linewidth=1,
                label="old rule's in-flight count (what it scaled on)",
            )  # fmt: skip
    middle.set_ylabel("jobs waiting (backlog)")
    bottom.set_ylabel("machines (booting or up)")
    bottom.set_xlabel("hour of the day")
    bottom.set_xlim(0, max(_hours(end) for _, end in results))
    for axis in (top, middle, bottom):
        axis.grid(alpha=0.3)
    middle.legend(loc="upper left", fontsize=8)
    bottom.legend(loc="upper left", fontsize=8)
    fig.suptitle("A day of lecture uploads: backlog and machines under each scaling rule")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _hours(seconds: float) -> float:
    return seconds / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--plot", type=Path, default=Path("bench/scaling/day.png"))
    args = parser.parse_args()
    uploads = make_day(args.seed)
    work_h = sum(u.work_s for u in uploads) / 3600
    deaths = sum(1 for u in uploads if u.deaths[0] is not None)
    print(
        f"seed {args.seed}: {len(uploads)} uploads, {work_h:.1f} h of transcoding, "
        f"{deaths} first attempts on a machine that dies; boot {BOOT_S} s, decisions every "
        f"{EVAL_S} s, {MIN_MACHINES}-{MAX_MACHINES} machines, stable zero {STABLE_ZERO_S} s"
    )
    results = [
        simulate("old rule (in-flight + visible), 1 job/machine", uploads, 1, True),
        simulate("vodforge (backlog + running), 1 job/worker", uploads, 1, False),
        simulate("vodforge, 2 jobs/worker (2x machine)", uploads, 2, False),
    ]
    print(table(results))
    plot(results, uploads, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

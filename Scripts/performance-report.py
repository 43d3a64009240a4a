#!/usr/bin/env python3
"""Writes Spec/performance.md from the JSON files Scripts/compare-synapse.sh collected.

usage: performance-report.py WORKDIR OUT SYNAPSE_VERSION HEARTH_BUILD PARAMETERS
WORKDIR holds idle.json and {hearth,synapse}-{throughput,latency}.json (hearth-load --json).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    work, out, synapse_version, commit, parameters = Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:6]
    idle = json.loads((work / "idle.json").read_text())
    run = {f"{s}-{p}": json.loads((work / f"{s}-{p}.json").read_text())
           for s in ("hearth", "synapse") for p in ("throughput", "latency")}
    h_tp, s_tp, h_lat, s_lat = run["hearth-throughput"], run["synapse-throughput"], run["hearth-latency"], run["synapse-latency"]

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}{unit}"

    def mib(kib: int | None) -> str:
        return "n/a" if kib is None else f"{kib / 1024:,.1f} MiB"

    throughput = ratio(h_tp["events_per_second"], s_tp["events_per_second"])
    latency = ratio(h_lat["delivery_ms_p99"], s_lat["delivery_ms_p99"])
    memory = ratio(idle["hearth"], idle["synapse"])
    goals = [
        ("Throughput (events/s persisted, closed loop)", fmt(h_tp["events_per_second"]), fmt(s_tp["events_per_second"]),
         fmt(throughput, "x", 2), "≥ 20x", throughput is not None and throughput >= 20),
        (f"Delivery p99 at {fmt(h_lat['offered_rate'], ' msg/s', 0)} offered", fmt(h_lat["delivery_ms_p99"], " ms"),
         fmt(s_lat["delivery_ms_p99"], " ms"), fmt(latency, "x", 3), "< 0.1x", latency is not None and latency < 0.1),
        ("Idle memory (RSS, fresh start)", mib(idle["hearth"]), mib(idle["synapse"]), fmt(memory, "x", 3), "< 0.2x",
         memory is not None and memory < 0.2),
    ]
    anon = ratio(idle.get("hearth_anon"), idle.get("synapse_anon"))

    lines = [
        "# Performance: Hearth and Synapse under the same load",
        "",
        "Measured by `Scripts/compare-synapse.sh` with the project's load tool `hearth-load`, which drives any",
        "homeserver through the client-server API only. Both servers ran on the same machine in the same run,",
        "on SQLite (both in WAL mode with `synchronous=FULL`: an acknowledged event is on disk), logging at",
        "WARNING, with rate limits raised. One server is loaded at a time; the other is paused (SIGSTOP). This file is generated; rerun the",
        "script to refresh it. The numbers are what was measured, goals met or not.",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; Hearth commit {commit}; "
        f"Synapse {synapse_version} (PyPI, Python {platform.python_version()})",
        f"- Machine: {os.cpu_count()} CPU ({cpu_model()}), Linux {platform.release()}; load generator on the same cores",
        f"- Load: {parameters}. User i is in room i % rooms; every user long-polls `/sync`"
        " (timeline limit 200, presence off) while senders `PUT /send` with unique, time-stamped bodies.",
        "",
        "## Against the goals",
        "",
        "| Metric | Hearth | Synapse | Hearth / Synapse | Goal | Met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [f"| {name} | {h} | {s} | {r} | {goal} | {'yes' if met else '**no**'} |" for name, h, s, r, goal, met in goals]
    lines += [
        "",
        f"Idle RSS counts mapped code: Hearth's anonymous (heap and stack) part is {mib(idle.get('hearth_anon'))}, "
        f"Synapse's {mib(idle.get('synapse_anon'))} ({fmt(anon, 'x', 3)}); the rest is the pages of the executable and "
        "shared libraries (Swift runtime, Foundation, ICU data, SQLite) that the process has touched.",
        "",
        "## All measurements",
        "",
        "| | Hearth throughput | Synapse throughput | Hearth latency run | Synapse latency run |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    order = [h_tp, s_tp, h_lat, s_lat]
    rows = [
        ("Offered rate", lambda r: "closed loop" if not r["offered_rate"] else fmt(r["offered_rate"], " msg/s", 0)),
        ("Events persisted", lambda r: f"{r['acknowledged']:,} in {fmt(r['seconds'], ' s', 0)}"),
        ("Events/s persisted", lambda r: fmt(r["events_per_second"])),
        ("Send errors", lambda r: str(r["send_errors"])),
        ("Send round trip p50 / p99", lambda r: f"{fmt(r['send_ms_p50'])} / {fmt(r['send_ms_p99'], ' ms')}"),
        ("Delivery p50 / p99", lambda r: f"{fmt(r['delivery_ms_p50'])} / {fmt(r['delivery_ms_p99'], ' ms')}"),
        ("Delivery max", lambda r: fmt(r["delivery_ms_max"], " ms")),
        ("Deliveries measured", lambda r: f"{r['delivery_samples']:,}"),
        ("Messages seen by a receiver", lambda r: f"{r['delivered']:,} of {r['acknowledged']:,}"),
        ("Limited (gapped) syncs", lambda r: str(r["limited_syncs"])),
        ("RSS before / peak / after", lambda r: f"{mib(r['rss_kib_before'])} / {mib(r['rss_kib_peak'])} / {mib(r['rss_kib_after'])}"),
        ("Setup (register, rooms, joins)", lambda r: fmt(r["setup_seconds"], " s")),
    ]
    lines += [f"| {name} | " + " | ".join(f(r) for r in order) + " |" for name, f in rows]
    lines += [
        "",
        "Delivery latency is measured per receiving member: from just before the sender's `PUT` to the",
        "moment the receiver's `/sync` response is parsed, on one monotonic clock (sender and receivers run",
        "in the same `hearth-load` process). Send round trip is the `PUT`'s own latency. Only messages sent",
        "inside the measured window count; a warm-up of 2 s precedes it.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()

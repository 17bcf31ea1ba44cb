"""Prints bench/ingress's Markdown table and ratios from the *.result files run.sh wrote."""

import json
import os
import platform
import sys

out, connections, names = sys.argv[1], sys.argv[2], sys.argv[3:]
results = [json.load(open(os.path.join(out, f"{n}.result"))) for n in names]


def rps(r):
    return r["loaded"]["requests"] / (r["loaded"]["duration_us"] / 1e6)


def errors(r):
    return sum(v for part in ("serial", "loaded") for k, v in r[part].items() if k.startswith("errors_"))


def total(r):
    return max(r["serial"]["requests"] + r["loaded"]["requests"], 1)


def ms(us):
    return f"{us / 1000:.3f} ms" if us < 10_000 else f"{us / 1000:.1f} ms"


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; "
      f"load average before the run: {open('/proc/loadavg').read().split()[0]}\n")


def memory(name):
    """RSS after the load from the saved status: (anonymous, file-backed: the binary's and libraries' pages)."""
    try:
        fields = dict(l.split(":", 1) for l in open(os.path.join(out, f"{name}.status")))
        return tuple(int(fields[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile"))
    except (OSError, KeyError, ValueError):
        return None


print(f"| server | serial p50 | serial p99 | {connections} conns req/s | {connections} conns p99 | peak RSS "
      "| RSS after: anon + file | errors | views.open / request | users.info / request |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in results:
    split = memory(r["name"])
    split = f"{split[0]:.1f} + {split[1]:.1f} MiB" if split else "?"
    print(f"| {r['name']} | {ms(r['serial']['p50_us'])} | {ms(r['serial']['p99_us'])} | {rps(r):,.0f} | "
          f"{ms(r['loaded']['p99_us'])} | {r['rss_kib'] / 1024:.1f} MiB | {split} | {errors(r)} | "
          f"{r['views_open'] / total(r):.2f} | {r['users_info'] / total(r):.3f} |")
peers = [r for r in results if not r["name"].startswith("airlock")]
for airlock in (r for r in results if r["name"].startswith("airlock")):
    if not peers:
        break
    print()
    for p in peers:
        print(f"* {airlock['name']} / {p['name']}: {rps(airlock) / rps(p):.1f}x the throughput at {connections} "
              f"connections, {p['serial']['p50_us'] / max(airlock['serial']['p50_us'], 1):.1f}x lower serial p50")
    best = max(peers, key=rps)
    print(f"* {airlock['name']} against the targets: >= 20x the best peer ({best['name']}): "
          f"{rps(airlock) / rps(best):.1f}x; p99 < 5 ms: {ms(airlock['loaded']['p99_us'])}; "
          f"serial p50 <= 0.10 ms: {ms(airlock['serial']['p50_us'])}; "
          f"peak RSS <= 16 MiB: {airlock['rss_kib'] / 1024:.1f} MiB")

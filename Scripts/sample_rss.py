#!/usr/bin/env python3
"""Runs a command and samples its resident memory (VmRSS of /proc/PID/status) over time.

    Scripts/sample_rss.py [--every SECONDS] [--csv FILE] [--svg FILE] [--skip SECONDS] -- COMMAND...

Every --every seconds (default 5) it reads VmRSS and VmHWM of the command's process and writes a
CSV row (seconds since start, rss_kib, hwm_kib). When the command ends it prints one line with the
minimum, median and maximum RSS of the samples after --skip seconds (default: the first 10% of the
run, while the process starts and allocates its working set), the slope of a least-squares line
through them in MiB per hour, the peak (VmHWM) of the whole run, and the command's exit status. With --svg it also
draws RSS over time as a small self-contained SVG chart.

    Scripts/sample_rss.py --plot SVG [--title TEXT] CSV:LABEL...

draws the runs of earlier CSV files on one chart instead (for example one program before and after a change).

Only the command's own process is sampled (not its children). Standard library only; Linux only.
Exit status: the command's.
"""
import argparse
import statistics
import subprocess
import sys
import time


def read_status(pid):
    """VmRSS and VmHWM of `pid` in KiB, or None once the process is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in fields:
        return None
    kib = lambda key: int(fields.get(key, "0 kB").split()[0])
    return kib("VmRSS"), kib("VmHWM")


def slope_per_hour(samples):
    """Least-squares slope of RSS (MiB) against time, in MiB per hour; None with fewer than 2 samples."""
    if len(samples) < 2:
        return None
    xs = [t for t, _, _ in samples]
    ys = [rss / 1024 for _, rss, _ in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx * 3600


def nice_step(span, ticks=4):
    """A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `ticks` parts."""
    import math
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def svg_chart(samples, title, series=None):
    """A 640x240 line chart of RSS (MiB) over time (minutes), axes labelled: of `samples`, or of
    each (label, samples) of `series`, with a legend."""
    series = series or [(None, samples)]
    width, height, left, right, top, bottom = 640, 240, 60, 20, 30, 40
    t_last = max(s[-1][0] for _, s in series) / 60
    y_top = max(rss for _, s in series for _, rss, _ in s) / 1024
    t_step, y_step = nice_step(t_last), nice_step(y_top * 1.05)
    t_max = max(t_last, t_step)
    y_max = y_step * (int(y_top * 1.05 / y_step) + 1)
    sx = lambda t: left + (width - left - right) * t / t_max
    sy = lambda y: height - bottom - (height - top - bottom) * y / y_max
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="12">{esc(title)}</text>',
             f'<line x1="{left}" y1="{sy(0)}" x2="{width - right}" y2="{sy(0)}" stroke="#444"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{sy(0)}" stroke="#444"/>']
    y = 0.0
    while y <= y_max + 1e-9:
        parts.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        parts.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{width - right}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        y += y_step
    t = 0.0
    while t <= t_max + 1e-9:
        parts.append(f'<text x="{sx(t):.1f}" y="{height - bottom + 16}" text-anchor="middle">{t:g}</text>')
        t += t_step
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">minutes</text>')
    parts.append(f'<text x="14" y="{(top + height - bottom) / 2}" transform="rotate(-90 14 {(top + height - bottom) / 2})" '
                 f'text-anchor="middle">RSS (MiB)</text>')
    for number, (label, run) in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        points = " ".join(f"{sx(t / 60):.1f},{sy(rss / 1024):.1f}" for t, rss, _ in run)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        if label:
            y = top + 6 + 14 * number
            parts.append(f'<line x1="{left + 10}" y1="{y}" x2="{left + 30}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
            parts.append(f'<text x="{left + 36}" y="{y + 4}">{esc(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--csv", help="write the samples here (default: rss.csv)", default="rss.csv")
    parser.add_argument("--svg", help="also draw RSS over time into this SVG file")
    parser.add_argument("--title", help="the chart's title (default: the command)")
    parser.add_argument("--skip", type=float, help="seconds left out of the slope (default: the first 10%% of the run)")
    parser.add_argument("--plot", metavar="SVG", help="draw the CSV:LABEL files given instead of running a command")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.plot:
        series = []
        for item in args.command:
            path, _, label = item.partition(":")
            with open(path) as f:
                rows = [line.split(",") for line in f.read().splitlines()[1:] if line]
            series.append((label or path, [(float(t), int(r), int(h)) for t, r, h in rows]))
        if not series:
            parser.error("--plot needs at least one CSV:LABEL")
        with open(args.plot, "w") as f:
            f.write(svg_chart(None, args.title or "RSS over time", series))
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if args.every <= 0:
        parser.error("--every must be positive")

    start = time.monotonic()
    process = subprocess.Popen(command)
    samples = []
    with open(args.csv, "w") as out:
        out.write("seconds,rss_kib,hwm_kib\n")
        while True:
            status = read_status(process.pid)
            if status is not None and status[0] > 0 and process.poll() is None:
                t = time.monotonic() - start
                samples.append((t, status[0], status[1]))
                out.write(f"{t:.1f},{status[0]},{status[1]}\n")
                out.flush()
            try:
                process.wait(timeout=args.every)
                break
            except subprocess.TimeoutExpired:
                pass
    code = process.returncode
    if not samples:
        print(f"sample_rss: no samples (the command ended within {args.every} s); exit status {code}")
        return code
    duration = time.monotonic() - start
    skip = args.skip if args.skip is not None else duration * 0.1
    fitted = [s for s in samples if s[0] >= skip] or samples
    rss = [r / 1024 for _, r, _ in fitted]
    slope = slope_per_hour(fitted)
    slope_text = "n/a" if slope is None else f"{slope:+.1f} MiB/h"
    print(f"sample_rss: {len(samples)} samples over {duration:.0f} s; after {skip:.0f} s: RSS min {min(rss):.1f} MiB, "
          f"median {statistics.median(rss):.1f} MiB, max {max(rss):.1f} MiB, slope {slope_text}; "
          f"peak (VmHWM) {samples[-1][2] / 1024:.1f} MiB; exit status {code}")
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg_chart(samples, args.title or " ".join(command)))
    return code


if __name__ == "__main__":
    sys.exit(main())

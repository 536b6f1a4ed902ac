# Measuring helpers for the benchmark scripts (benches/*.sh), sourced.

# sampled CMD ARGS...: prints "PEAK_ANON PEAK_FILE" (KiB), the peaks of
# RssAnon (heap, stacks) and RssFile (resident pages of mapped files) of
# the command, sampled every 2 ms from /proc/PID/status; its output is
# discarded; exits non-zero when the command does.
sampled() {
    python3 - "$@" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = {"RssAnon": 0, "RssFile": 0}
while p.poll() is None:
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in peak:
                    peak[k] = max(peak[k], int(v.split()[0]))
    except (OSError, ValueError):
        pass
    time.sleep(0.002)
if p.returncode != 0:
    sys.exit(f"{sys.argv[1:]} exited {p.returncode}")
print(peak["RssAnon"], peak["RssFile"])
PY
}

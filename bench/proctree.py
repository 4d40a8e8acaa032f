"""Figures of a server's whole process tree, read from /proc: its PIDs, CPU seconds, RSS, PSS,
and a background thread that samples the tree's summed RSS every 200 ms to keep its peak."""
import os
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid):
    """Fields of /proc/PID/stat after the command name: [0] state, [1] ppid, ... [11] utime."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()


def tree_pids(root):
    """root and all its descendants that are alive (zombies left out)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                st = _stat(name)
            except (OSError, IndexError):
                continue
            if st[0] != "Z":
                children.setdefault(int(st[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu_s(root):
    """utime + stime of every live process of the tree, plus cutime + cstime (its reaped children)."""
    total = 0
    for pid in tree_pids(root):
        try:
            total += sum(int(x) for x in _stat(pid)[11:15])
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def tree_rss_kib(root, pids=None):
    """(summed RSS in KiB, number of processes)."""
    total, n = 0, 0
    for pid in pids or tree_pids(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE // 1024
            n += 1
        except (OSError, IndexError):
            pass
    return total, n


def tree_pss_kib(root):
    """Summed PSS (shared pages divided among sharers), from smaps_rollup; slower than RSS."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total


class RssSampler(threading.Thread):
    """Samples the tree's summed RSS every `interval` s; keeps the peak since start and since the
    last phase() call."""

    def __init__(self, root, interval=0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_kib = self.phase_peak_kib = self.max_procs = self.samples = 0
        self._stop_evt = threading.Event()
        self._lock = threading.Lock()

    def sample(self):
        kib, n = tree_rss_kib(self.root)
        with self._lock:
            self.samples += 1
            self.peak_kib = max(self.peak_kib, kib)
            self.phase_peak_kib = max(self.phase_peak_kib, kib)
            self.max_procs = max(self.max_procs, n)
        return kib

    def phase(self):
        """Peak RSS (KiB) since the previous call; starts a new phase."""
        self.sample()
        with self._lock:
            peak, self.phase_peak_kib = self.phase_peak_kib, 0
        return peak

    def run(self):
        while not self._stop_evt.wait(self.interval):
            self.sample()

    def stop(self):
        self._stop_evt.set()
        self.join(timeout=5)


def wait_quiet(root, max_s=20.0, window=1.0, cpu_frac=0.15):
    """Wait until the tree uses < cpu_frac of a core over `window` s (backlog done), at most max_s."""
    deadline = time.monotonic() + max_s
    last = tree_cpu_s(root)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = tree_cpu_s(root)
        if now - last < cpu_frac * window:
            return
        last = now


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])

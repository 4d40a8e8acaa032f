"""Tables of the results, one per scenario, with Esteira's ratio to each MLflow configuration.
Every ratio reads "how many times better Esteira is": throughput esteira/mlflow; latency, memory
and CPU mlflow/esteira. Below 1 it is marked (worse)."""

HIGHER, LOWER, COUNT, INFO = "higher", "lower", "count", "info"
BASES = [("mlflow", "vs MLflow (default)"), ("mlflow_w1", "vs MLflow (-w 1)")]


def fmt(v, kind=INFO):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if kind == COUNT:
        if isinstance(v, dict):  # a wrk row: errors, plus a stall after the run if there was one
            stall = f", stalled {v['answers_again_after_s']:.0f} s after !!" if v.get("stalled") else ""
            return fmt(v.get("errors"), COUNT) + stall
        return f"{int(v)}" + (" !!" if v else "")
    if isinstance(v, int):
        return f"{v:,}"
    a = abs(v)
    return f"{v:,.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 0.1 else f"{v:.3f}"


def ratio(base, est, kind):
    if not isinstance(base, (int, float)) or not isinstance(est, (int, float)) or kind in (COUNT, INFO):
        return None
    if base <= 0 or est <= 0:
        return None
    return est / base if kind == HIGHER else base / est


def fmt_ratio(r):
    if r is None:
        return "-"
    s = f"{r:.0f}" if r >= 100 else f"{r:.1f}" if r >= 1 else f"{r:.2f}"
    return f"{s}x better" if r >= 1 else "1.00x (same)" if r >= 0.995 else f"{s}x (worse)"


def get(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def table(title, rows, data, servers, ratios_out):
    """rows: [(label, path, kind)]; data: {server_key: dict}. Returns lines (a markdown table)."""
    keys = [k for k, _ in servers]
    bases = [(b, l) for b, l in BASES if b in keys and "esteira" in keys]
    head = ["measure"] + [l for _, l in servers] + [l for _, l in bases]
    lines = [f"\n### {title}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, path, kind in rows:
        vals = {k: get(data.get(k, {}), path) for k in keys}
        if all(v is None for v in vals.values()):
            continue
        cells = [label] + [("ERR" if "error" in data.get(k, {}) else fmt(vals[k], kind)) for k in keys]
        for b, _ in bases:
            r = ratio(vals[b], vals["esteira"], kind)
            cells.append(fmt_ratio(r))
            if r is not None:
                ratios_out.setdefault(label, {})[f"esteira_vs_{b}"] = r
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def notes(scen, data, servers):
    """Failures and error counts, so that a run with errors can't go unnoticed."""
    out = []
    for key, label in servers:
        d = data.get(key, {})
        if "error" in d:
            out.append(f"ERROR ({scen}) {label}: {d['error']}")
        for name, r in d.items():
            if not isinstance(r, dict) or "requests" not in r:
                continue
            if r.get("errors"):
                out.append(f"WARNING ({scen}) {label} {name}: {r['errors']} errors, {r['requests']} responses "
                           f"(statuses {r['statuses']}, socket errors {r['socket_errors']})")
            if not r["requests"]:
                out.append(f"WARNING ({scen}) {label} {name}: no response at all during the run "
                           f"({r.get('unanswered_at_end')} requests unanswered)")
            if r.get("stalled"):
                out.append(f"WARNING ({scen}) {label} {name}: the server answered a probe only "
                           f"{r['answers_again_after_s']:.1f} s after the run (stalled)")
        if d.get("fill_errors"):
            out.append(f"WARNING ({scen}) {label} fill: {d['fill_errors']} errors (statuses {d['fill_statuses']})")
        if d.get("search_check") not in (None, "ok"):
            out.append(f"WARNING ({scen}) {label} search result check: {d['search_check']}")
    return out


def render(results, servers):
    lines, ratios, warn = [], {}, []
    a, b, c, d = (results.get(s, {}) for s in "abcd")
    cfg = results["meta"]["config"]
    names = []  # wrk rows of (b), in the order they ran
    for v in b.values():
        names += [k for k in v if " c=" in k and k not in names]
    if a:
        rows = [(f"{cfg['runs']} runs through MlflowClient, total s", ["total_s"], LOWER),
                ("ms per run (create + log_batch + terminate)", ["ms_per_run"], LOWER),
                ("metric points / s", ["points_per_s"], HIGHER),
                (f"create_model_version, mean of {cfg['calls']} (ms)", ["create_model_version_ms"], LOWER),
                (f"get_metric_history 100 points, mean of {cfg['calls']} (ms)", ["get_metric_history_ms"], LOWER)]
        lines += table("(a) MlflowClient, one Python thread", rows, a, servers, ratios.setdefault("a", {}))
        warn += notes("a", a, servers)
    if b:
        rows = []
        for k in names:
            rows += [(f"{k} req/s", [k, "req_per_s"], HIGHER), (f"{k} p50 ms", [k, "p50_ms"], LOWER),
                     (f"{k} p99 ms", [k, "p99_ms"], LOWER), (f"{k} errors", [k], COUNT)]
        lines += table(f"(b) wrk, keep-alive, {cfg['seconds']} s per row", rows, b, servers, ratios.setdefault("b", {}))
        warn += notes("b", b, servers)
    if c:
        scens = [s for s in ("idle", "a", "b", "d") if any(s in v for v in c.values())]
        mem = {}
        for key, per in c.items():  # start-up & idle figures from the first scenario that has them
            first = next((per[s] for s in scens if "startup_s" in per.get(s, {})), {})
            mem[key] = dict(first=first, **per)
        rows = [("start-up to /health (s)", ["first", "startup_s"], LOWER),
                ("idle RSS after start-up (MiB)", ["first", "idle_rss_mib"], LOWER),
                ("processes in the tree", ["first", "processes"], INFO),
                ("idle CPU after start-up (% of one core)", ["first", "idle_cpu_pct"], LOWER)]
        for s in scens:
            rows += [(f"peak RSS during ({s}) (MiB)", [s, "peak_rss_mib"], LOWER),
                     (f"PSS at end of ({s}) (MiB)", [s, "pss_end_mib"], LOWER)]
        lines += table("(c) server memory, whole process tree (RSS summed, sampled every 200 ms)", rows, mem,
                       servers, ratios.setdefault("c", {}))
    if a or b:
        rows = [("(a) server CPU s, whole scenario", ["a", "server_cpu_s"], LOWER),
                ("(a) CPU ms per run", ["a", "cpu_ms_per_run"], LOWER),
                ("(a) CPU ms per create_model_version", ["a", "cpu_ms_per_create_model_version"], LOWER),
                ("(a) CPU ms per get_metric_history", ["a", "cpu_ms_per_get_metric_history"], LOWER),
                ("(b) server CPU s, whole scenario", ["b", "server_cpu_s"], LOWER)]
        rows += [(f"(b) {k} CPU ms/req", ["b", k, "cpu_ms_per_req"], LOWER) for k in names]
        cpu = {k: {"a": a.get(k, {}), "b": b.get(k, {})} for k, _ in servers}
        lines += table("server CPU (utime+stime of the whole tree, from /proc)", rows, cpu, servers,
                       ratios.setdefault("cpu", {}))
    if d:
        rows = [("runs filled (10 metrics, 3 params each)", ["runs_logged"], INFO),
                ("fill wall s", ["fill_s"], INFO), ("fill runs / s", ["fill_runs_per_s"], INFO),
                ("fill requests / s (create + log-batch)", ["fill_requests_per_s"], INFO),
                ("fill server CPU ms per run", ["fill_cpu_ms_per_run"], INFO),
                ("fill errors", ["fill_errors"], COUNT),
                ("search: first call ms", ["search_first_ms"], INFO),
                ("search p50 ms", ["search_p50_ms"], INFO), ("search p99 ms", ["search_p99_ms"], INFO),
                ("search mean ms", ["search_mean_ms"], INFO),
                ("search server CPU ms/call", ["search_cpu_ms_per_call"], INFO),
                ("search runs returned", ["search_results"], INFO), ("search result check", ["search_check"], INFO),
                ("peak RSS during (d) (MiB)", ["peak_rss_mib"], INFO),
                ("server CPU s, whole scenario", ["server_cpu_s"], INFO)]
        for key, v in d.items():
            v.setdefault("peak_rss_mib", get(c, [key, "d", "peak_rss_mib"]))
        body = next((v["search"] for v in d.values() if "search" in v), None)
        title = f"(d) scale, Esteira only; runs/search {body}" if body else "(d) scale, Esteira only"
        lines += table(title, rows, d, [s for s in servers if s[0] == "esteira"], {})
        warn += notes("d", d, servers)
    meta = results["meta"]
    head = [f"## Esteira vs MLflow {meta['mlflow_version']} tracking server ({meta['timestamp']}, "
            f"{meta['cpus']} CPUs, load {meta['loadavg_start']} -> {meta.get('loadavg_end')})",
            "Ratios: how many times better Esteira is (throughput esteira/mlflow; latency, memory, CPU mlflow/esteira)."]
    if meta.get("esteira_command_overridden"):
        head.append(f"NOTE: the Esteira column ran ESTEIRA_SERVER_CMD = {meta['servers']['esteira']['command']}")
    return "\n".join(head + lines + ([""] + warn if warn else [])), ratios

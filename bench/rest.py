"""A small JSON client for MLflow's REST API (http.client, one keep-alive connection per thread),
and the data the wrk scenarios need, created through that API."""
import http.client
import json
import random
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

API = "/api/2.0/mlflow"


class Rest:
    def __init__(self, base_url):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self._local = threading.local()

    def _conn(self, fresh=False):
        if fresh or not hasattr(self._local, "conn"):
            self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return self._local.conn

    def call(self, method, endpoint, body=None, query=None):
        path = API + endpoint + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        for attempt in (0, 1):
            conn = self._conn(fresh=attempt == 1)
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                if attempt:
                    raise
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {endpoint} -> {resp.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def post(self, endpoint, body):
        return self.call("POST", endpoint, body)

    def get(self, endpoint, **query):
        return self.call("GET", endpoint, query=query)


def create_experiment(rest, name):
    return rest.post("/experiments/create", {"name": name})["experiment_id"]


def create_run(rest, exp_id, name):
    return rest.post("/runs/create", {"experiment_id": exp_id, "run_name": name,
                                      "start_time": int(time.time() * 1000)})["run"]["info"]["run_id"]


def seed_tracking(rest, n_search_runs=200, pool=64, history_points=100, workers=8):
    """Data for scenario (b): an experiment of n_search_runs runs with 10 metrics each (rmse
    uniform in [0, 1) plus m1..m9) and 2 params; a pool of empty runs for log-batch; one run with
    `history_points` points of metric "loss"."""
    rng = random.Random(42)
    search_exp = create_experiment(rest, "bench-search")
    rmse = [rng.random() for _ in range(n_search_runs)]

    def one_search_run(i):
        run_id = create_run(rest, search_exp, f"search-{i}")
        ts = int(time.time() * 1000)
        metrics = [{"key": "rmse", "value": rmse[i], "timestamp": ts, "step": 0}]
        metrics += [{"key": f"m{k}", "value": rng.random(), "timestamp": ts, "step": 0} for k in range(1, 10)]
        params = [{"key": "model", "value": "gbr"}, {"key": "depth", "value": str(i % 5)}]
        rest.post("/runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": params})

    pool_exp = create_experiment(rest, "bench-pool")
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(one_search_run, range(n_search_runs)))
        pool_ids = list(ex.map(lambda i: create_run(rest, pool_exp, f"pool-{i}"), range(pool)))
    history_run = create_run(rest, pool_exp, "history")
    ts = int(time.time() * 1000)
    points = [{"key": "loss", "value": 1.0 / (s + 1), "timestamp": ts + s, "step": s} for s in range(history_points)]
    rest.post("/runs/log-batch", {"run_id": history_run, "metrics": points})
    return {"search_experiment_id": search_exp, "expected_matches": sum(v < 0.5 for v in rmse),
            "pool_run_ids": pool_ids, "history_run_id": history_run}

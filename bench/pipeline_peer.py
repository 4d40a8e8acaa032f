"""The 200-step no-op fan-out/fan-in DAG on a peer orchestrator, timed like Esteira's.

Runs in bench/.venv-peers (made by bench/pipeline.sh from bench/requirements-peers.txt):

    bench/.venv-peers/bin/python bench/pipeline_peer.py prefect --workdir DIR --out FILE.json
    bench/.venv-peers/bin/python bench/pipeline_peer.py dagster --workdir DIR --out FILE.json

The DAG is the one bench/pipeline_bench.py gives Esteira: a root task, FANOUT tasks that each
depend on the root, and a join task that depends on all of them. Every task runs the same
command as the Esteira step (`touch <file>` for the root and the fan-out tasks, whose empty
file is the output Esteira needs to draw an edge, `true` for the join) as a child process, so
that both sides pay one fork/exec per step.

Each task records, from inside its body, when the body started and ended, how long the
command itself took, and which thread/process ran it. Those records go to a JSON-lines file
(the Dagster ops run in processes of their own). The output JSON holds them with the wall
time of the run call and of the whole process (imports and the peer's own start-up included).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

PROCESS_START = time.time()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proctree import tree_cpu_s  # noqa: E402
FANOUT = int(os.environ.get("BENCH_FANOUT", "198"))


def record_step(name: str, argv: list[str], log_path: str) -> None:
    """Runs `argv` and appends this task's timings to `log_path`."""
    start = time.time()
    cmd_start = time.perf_counter()
    subprocess.run(argv, check=True)
    cmd_seconds = time.perf_counter() - cmd_start
    end = time.time()
    line = json.dumps(
        {
            "step": name,
            "start": start,
            "end": end,
            "command_seconds": cmd_seconds,
            "worker": f"{os.getpid()}/{threading.current_thread().name}",
        }
    )
    with open(log_path, "a") as f:
        f.write(line + "\n")


def argv_for(step: str, workdir: str) -> list[str]:
    """The command of a step: `touch` its output file, or `true` for the join."""
    if step == "join":
        return ["true"]
    return ["touch", os.path.join(workdir, "files", step)]


def step_names() -> list[str]:
    return [f"s{i:03d}" for i in range(FANOUT)]


def run_prefect(workdir: str, log_path: str) -> dict:
    """A Prefect 3 flow: root, FANOUT tasks waiting for it, a join waiting for all, on a
    ThreadPoolTaskRunner with 2 threads. Prefect starts its own ephemeral API server."""
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    @task(name="step", cache_policy=None, persist_result=False)
    def step(name: str) -> None:
        record_step(name, argv_for(name, workdir), log_path)

    body: dict[str, float] = {}

    @flow(name="fanout-200", task_runner=ThreadPoolTaskRunner(max_workers=2), persist_result=False)
    def dag() -> None:
        body["start"] = time.time()
        root = step.with_options(name="root").submit("root")
        mids = [step.with_options(name=n).submit(n, wait_for=[root]) for n in step_names()]
        step.with_options(name="join").submit("join", wait_for=mids).result()
        body["end"] = time.time()

    @flow(name="warm-up", persist_result=False)
    def warm_up() -> None:
        pass

    import prefect

    warm_start = time.time()
    warm_up()
    warm_end = time.time()
    cpu0 = tree_cpu_s(os.getpid())
    start = time.time()
    dag()
    end = time.time()
    cpu = tree_cpu_s(os.getpid()) - cpu0
    return {"peer": "prefect", "version": prefect.__version__, "run_start": start, "run_end": end,
            "body_start": body["start"], "body_end": body["end"],
            "warm_up_seconds": warm_end - warm_start, "run_cpu_s": cpu,
            "executor": "ThreadPoolTaskRunner(max_workers=2), ephemeral local API (SQLite)"}


def dagster_job():
    """The Dagster job: ops built from one factory, wired root -> FANOUT -> join by Nothing
    dependencies, on the multiprocess executor limited to 2 concurrent ops."""
    from dagster import In, Nothing, Out, job, multiprocess_executor, op

    workdir = os.environ["BENCH_PEER_WORKDIR"]
    log_path = os.environ["BENCH_PEER_LOG"]

    def make_op(name: str, ins: dict):
        @op(name=name, ins=ins, out=Out(Nothing))
        def the_op():
            record_step(name, argv_for(name, workdir), log_path)

        return the_op

    root_op = make_op("root", {})
    mid_ops = [make_op(n, {"after": In(Nothing)}) for n in step_names()]
    join_op = make_op("join", {"after": In(Nothing)})

    @job(name="fanout_200", executor_def=multiprocess_executor.configured({"max_concurrent": 2}))
    def fanout_200():
        r = root_op()
        join_op([m(r) for m in mid_ops])

    return fanout_200


def run_dagster(workdir: str, log_path: str) -> dict:
    """`execute_job` of the job above on a temporary local instance (the multiprocess
    executor needs one; each op runs in a child process of its own)."""
    import dagster
    from dagster import DagsterInstance, execute_job, reconstructable

    os.environ["BENCH_PEER_WORKDIR"] = workdir
    os.environ["BENCH_PEER_LOG"] = log_path
    home = os.path.join(workdir, "dagster_home")
    os.makedirs(home, exist_ok=True)
    os.environ["DAGSTER_HOME"] = home
    with DagsterInstance.local_temp(tempdir=home) as instance:
        cpu0 = tree_cpu_s(os.getpid())
        start = time.time()
        result = execute_job(reconstructable(dagster_job), instance=instance)
        end = time.time()
        cpu = tree_cpu_s(os.getpid()) - cpu0
        if not result.success:
            raise RuntimeError("the Dagster run failed")
    return {"peer": "dagster", "version": dagster.__version__, "run_start": start, "run_end": end,
            "run_cpu_s": cpu,
            "executor": "multiprocess_executor(max_concurrent=2), local temp instance"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=["prefect", "dagster"])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(os.path.join(args.workdir, "files"), exist_ok=True)
    log_path = os.path.join(args.workdir, "steps.jsonl")
    if os.path.exists(log_path):
        os.remove(log_path)
    runner = {"prefect": run_prefect, "dagster": run_dagster}[args.peer]
    summary = runner(args.workdir, log_path)
    with open(log_path) as f:
        summary["steps"] = [json.loads(line) for line in f]
    summary["process_start"] = PROCESS_START
    summary["process_end"] = time.time()
    with open(args.out, "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    sys.exit(main())

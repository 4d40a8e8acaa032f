"""The peer of bench/drift.sh: Evidently 0.7.23's `Report([DataDriftPreset()])` on two Parquet
files (numeric columns num_*, categorical cat_*), with its defaults.

    python bench/drift_peer.py REFERENCE CURRENT

Prints JSON: the seconds from reading the files to the snapshot's dict (the drift verdicts),
the import time apart, and every column's method, threshold, score and verdict.
"""
import json
import sys
import time

start = time.perf_counter()
import pandas as pd  # noqa: E402
import evidently  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

import_s = time.perf_counter() - start


def verdicts(snapshot):
    columns, count = {}, None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method, threshold, score = config["method"], config["threshold"], metric["value"]
            drifted = score < threshold if "p_value" in method else score >= threshold
            columns[config["column"]] = {"method": method, "threshold": threshold, "score": score, "drifted": bool(drifted)}
        elif config["type"].endswith("DriftedColumnsCount"):
            count = metric["value"]
    return columns, count


def main():
    reference_path, current_path = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    definition = DataDefinition(
        numerical_columns=[c for c in reference.columns if c.startswith("num_")],
        categorical_columns=[c for c in reference.columns if c.startswith("cat_")],
    )
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    columns, count = verdicts(snapshot.dict())
    drift_s = time.perf_counter() - start
    print(json.dumps({
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "import_s": import_s,
        "drift_s": drift_s,
        "rows_reference": len(reference),
        "rows_current": len(current),
        "drifted_columns_count": count,
        "columns": columns,
        "drifted": sorted(c for c, v in columns.items() if v["drifted"]),
    }, indent=1))


main()

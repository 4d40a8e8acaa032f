"""A custom step: reads the evaluation and the test split, writes a summary, reports a metric
through the metrics file and logs another with the mlflow client (to the step's own run)."""
import json
import os

import mlflow
import pandas as pd

evaluation = json.load(open(os.environ["ESTEIRA_INPUT_EVALUATION"]))
test = pd.read_parquet(os.environ["ESTEIRA_INPUT_TEST"])
candidate = evaluation["candidate"]
champion = evaluation.get("champion") or {}
with open(os.environ["ESTEIRA_OUTPUT_SUMMARY"], "w") as f:
    f.write(f"{len(test)} test rows; candidate MASE {candidate['mase']:.3f}; "
            f"champion MASE {champion.get('mase', float('nan')):.3f}\n")
with open(os.environ["ESTEIRA_METRICS"], "w") as f:
    json.dump({"test_rows": len(test)}, f)
mlflow.log_metric("candidate_mase", candidate["mase"])
print(open(os.environ["ESTEIRA_OUTPUT_SUMMARY"]).read().strip())

"""Artifacts: upload (file, tree, dict, text, figure), list, download, load."""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402

BINARY = bytes(range(256)) * 64  # every byte value, 16 KiB


def listing(client, run_id, path=None):
    """{(path, is_dir): size}; an empty file's size may come back as 0 or as None (proto default)."""
    return {
        (f.path, f.is_dir): None if f.is_dir else (f.file_size or 0) for f in client.list_artifacts(run_id, path)
    }


def test_log_artifact_file_and_download_byte_equal(client, experiment_id, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(BINARY)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))
        mlflow.log_artifact(str(source), artifact_path="nested/deeper")
    assert listing(client, run.info.run_id) == {("weights.bin", False): len(BINARY), ("nested", True): None}
    assert listing(client, run.info.run_id, "nested/deeper") == {("nested/deeper/weights.bin", False): len(BINARY)}

    downloaded = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="weights.bin",
                                                     dst_path=str(tmp_path / "out"))
    assert Path(downloaded).read_bytes() == BINARY
    nested = client.download_artifacts(run.info.run_id, "nested/deeper/weights.bin", str(tmp_path / "out2"))
    assert Path(nested).read_bytes() == BINARY


def test_log_artifacts_directory_tree_and_download_directory(client, experiment_id, tmp_path):
    tree = tmp_path / "tree"
    files = {
        "README.md": b"# hello\n",
        "data/train.csv": b"x,y\n1,2\n",
        "data/deep/more/blob.bin": BINARY,
        "empty.txt": b"",
        "unicode \u00e9\u00e0.txt": "ol\u00e1 mundo".encode(),
    }
    for rel, content in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(content)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(tree), artifact_path="bundle")
    run_id = run.info.run_id

    assert listing(client, run_id) == {("bundle", True): None}
    assert listing(client, run_id, "bundle") == {
        ("bundle/README.md", False): 8,
        ("bundle/data", True): None,
        ("bundle/empty.txt", False): 0,
        ("bundle/unicode \u00e9\u00e0.txt", False): len(files["unicode \u00e9\u00e0.txt"]),
    }
    assert listing(client, run_id, "bundle/data/deep") == {("bundle/data/deep/more", True): None}

    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="bundle",
                                                   dst_path=str(tmp_path / "dl")))
    got = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files

    whole = Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "all")))
    assert (whole / "bundle" / "data" / "deep" / "more" / "blob.bin").read_bytes() == BINARY


def test_log_dict_and_load_dict(experiment_id):
    payload = {"name": "model", "layers": [1, 2, 3], "nested": {"ok": True, "pi": 3.25}}
    with mlflow.start_run() as run:
        mlflow.log_dict(payload, "config/params.json")
        mlflow.log_dict(payload, "config/params.yaml")
    base = f"runs:/{run.info.run_id}/config"
    assert mlflow.artifacts.load_dict(f"{base}/params.json") == payload
    assert yaml.safe_load(mlflow.artifacts.load_text(f"{base}/params.yaml")) == payload


def test_log_text_and_load_text(client, experiment_id):
    text = "line one\nlinha dois \u2713\n"
    with mlflow.start_run() as run:
        mlflow.log_text(text, "notes/readme.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/readme.txt") == text
    assert mlflow.artifacts.load_text(f"{run.info.artifact_uri}/notes/readme.txt") == text


def test_log_figure(client, experiment_id, tmp_path):
    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [2, 1, 3])
    with mlflow.start_run() as run:
        mlflow.log_figure(figure, "plots/curve.png")
    plt.close(figure)
    files = client.list_artifacts(run.info.run_id, "plots")
    assert [(f.path, f.is_dir) for f in files] == [("plots/curve.png", False)]
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="plots/curve.png",
                                               dst_path=str(tmp_path))
    content = Path(path).read_bytes()
    assert content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(content) == files[0].file_size


def test_list_artifacts_of_run_without_artifacts_is_empty(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    assert client.list_artifacts(run.info.run_id) == []
    assert client.list_artifacts(run.info.run_id, "no/such/dir") == []


def test_client_log_artifact_to_run_from_another_process_style(client, experiment_id, tmp_path):
    run_id = client.create_run(experiment_id).info.run_id
    (tmp_path / "report.json").write_text(json.dumps({"f1": 0.5}))
    client.log_artifact(run_id, str(tmp_path / "report.json"), artifact_path="reports")
    client.log_text(run_id, "hello", "hello.txt")
    client.log_dict(run_id, {"a": 1}, "d.json")
    assert set(listing(client, run_id)) == {("reports", True), ("hello.txt", False), ("d.json", False)}
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/reports/report.json") == {"f1": 0.5}


def test_overwriting_an_artifact_replaces_its_content(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_text("first version", "state.txt")
        mlflow.log_text("second", "state.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/state.txt") == "second"


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024 + 3])
def test_artifact_sizes_round_trip(client, experiment_id, tmp_path, size):
    source = tmp_path / f"blob-{size}.bin"
    source.write_bytes(os.urandom(size))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))
    assert listing(client, run.info.run_id) == {(source.name, False): size}
    out = client.download_artifacts(run.info.run_id, source.name, str(tmp_path / "out"))
    assert Path(out).read_bytes() == source.read_bytes()


def multipart_completions(tracking_uri):
    """How many multipart uploads the server has completed, from its Prometheus metrics."""
    text = requests.get(f"{tracking_uri}/metrics", timeout=10).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("esteira_http_requests_total") and "mpu/complete" in line and 'status="200"' in line
    )


@pytest.mark.esteira_only
def test_large_artifact_goes_through_proxy_multipart_upload(client, experiment_id, tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    payload = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "big.bin"
    source.write_bytes(payload)
    before = multipart_completions(tracking_uri)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source), artifact_path="parts")
    assert multipart_completions(tracking_uri) == before + 1
    assert listing(client, run.info.run_id, "parts") == {("parts/big.bin", False): len(payload)}
    downloaded = client.download_artifacts(run.info.run_id, "parts/big.bin", str(tmp_path / "out"))
    assert Path(downloaded).read_bytes() == payload

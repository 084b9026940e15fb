"""capture.environment: the Environment dict contract, packages by distribution, secrets."""

from __future__ import annotations

import importlib.metadata as im
import json
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name as packaging_canonicalize

from repro_nb.capture.environment import (
    ENV_ALLOWLIST,
    EnvironmentWatcher,
    capture_environment,
    environment_hash,
)
from repro_nb.capture.packages import (
    canonicalize_name,
    distributions_for_modules,
    imported_distributions,
    package_pins,
)
from repro_nb.secrets import (
    REDACTED,
    find_secrets,
    looks_secret,
    redact_secrets,
    strip_url_credentials,
)

GITHUB_TOKEN = "ghp_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98"
AWS_KEY_ID = "AKIA" + "Q3EXAMPLE7Z2KPLM"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

CONTRACT = {
    "python": {"version", "implementation", "executable", "prefix", "hash_randomization"}
    | {"hash_seed"},
    "platform": {"system", "release", "machine", "platform", "libc"},
    "cpu": {"model", "count"},
    "memory": {"total_bytes"},
    "gpu": {
        "source",
        "devices",
        "driver",
        "cuda",
        "cudnn",
        "allow_tf32_matmul",
        "allow_tf32_cudnn",
        "float32_matmul_precision",
        "cudnn_deterministic",
        "cudnn_benchmark",
        "deterministic_algorithms",
    },
    "blas": {"libraries"},
    "threads": {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "torch_num_threads"},
}


def run_python(code: str, **env: str) -> Any:
    """Run code in a fresh interpreter; it prints one JSON document."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=120,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_dist(
    site: Path,
    dirname: str,
    name: str,
    version: str,
    direct_url: dict[str, Any] | None = None,
    top_level: str | None = None,
) -> Path:
    meta = site / dirname
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nLong description\n"
    )
    if direct_url is not None:
        (meta / "direct_url.json").write_text(json.dumps(direct_url))
    if top_level is not None:
        (meta / "top_level.txt").write_text(top_level + "\n")
    return meta


# --------------------------------------------------------------------------------------
# The dict


def test_contract_keys_and_json_ready() -> None:
    env = capture_environment(refresh=True)
    assert env["schema"] == 1
    assert isinstance(env["captured_at"], float)
    for section, keys in CONTRACT.items():
        missing = keys - set(env[section])
        assert not missing, f"{section} lacks {missing}"
    assert isinstance(env["packages"], dict) and isinstance(env["imported"], list)
    assert isinstance(env["env_vars"], dict)
    assert json.loads(json.dumps(env)) == env
    assert env["python"]["version"] == platform.python_version()
    assert env["python"]["implementation"] == platform.python_implementation()
    assert env["python"]["executable"] == sys.executable
    assert env["python"]["prefix"] == sys.prefix
    assert env["platform"]["system"] == platform.system()
    assert env["platform"]["machine"] == platform.machine()
    assert env["cpu"]["count"] == os.cpu_count()
    assert env["memory"]["total_bytes"] > 2**26
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert env["platform"]["libc"] == "glibc" + platform.libc_ver()[1]
        assert env["platform"]["platform"] == platform.platform()


def test_packages_match_importlib_metadata() -> None:
    env = capture_environment(refresh=True)
    expected: dict[str, str] = {}
    for dist in im.distributions(path=[p for p in sys.path if p]):
        expected.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    got = {k: v["version"] for k, v in env["packages"].items()}
    assert got == expected
    # By distribution name, not import name.
    assert env["packages"]["gitpython"]["version"] == im.version("gitpython")
    assert "git" not in env["packages"]
    assert env["packages"]["gitpython"]["origin"] == "index"


@pytest.mark.parametrize(
    "name", ["GitPython", "jupyter_core", "Foo.Bar-baz", "zope.interface", "A__b--C..d"]
)
def test_canonicalize_matches_packaging(name: str) -> None:
    assert canonicalize_name(name) == str(packaging_canonicalize(name))


def test_origins_from_direct_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    src = tmp_path / "src" / "mylib"
    make_dist(
        site,
        "my_editable-0.3.dist-info",
        "my-editable",
        "0.3",
        {"url": src.as_uri(), "dir_info": {"editable": True}},
    )
    make_dist(
        site,
        "my_local-1.0.dist-info",
        "my_local",
        "1.0",
        {"url": src.as_uri(), "dir_info": {}},
    )
    make_dist(
        site,
        "my_vcs-2.0.dist-info",
        "my-vcs",
        "2.0",
        {
            "url": f"https://oauth2:{GITHUB_TOKEN}@github.com/team/my-vcs.git",
            "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "main"},
        },
    )
    make_dist(
        site,
        "my_archive-4.0.dist-info",
        "my-archive",
        "4.0",
        {
            "url": "https://files.example.org/my_archive-4.0.tar.gz",
            "archive_info": {"hashes": {"sha256": "b" * 64}},
        },
    )
    # Legacy dist-info names with a '-' in the name are ambiguous: METADATA decides.
    make_dist(site, "python-odd-name-1.2.dist-info", "python-odd-name", "1.2")
    monkeypatch.syspath_prepend(str(site))

    env = capture_environment()  # warm call: sys.path changed, so packages are re-read
    pk = env["packages"]
    assert pk["my-editable"]["origin"] == "editable"
    assert pk["my-editable"]["url"] == src.as_uri()
    assert pk["my-local"]["origin"] == "local"
    assert pk["my-vcs"] == {
        **pk["my-vcs"],
        "origin": "vcs",
        "commit": "a" * 40,
        "url": "https://github.com/team/my-vcs.git",
    }
    assert pk["my-archive"]["origin"] == "archive"
    assert pk["python-odd-name"]["version"] == "1.2"
    assert GITHUB_TOKEN not in json.dumps(env)

    pins = package_pins(env, ["My_VCS", "my-archive", "my.editable", "GitPython", "nope"])
    assert f"my-vcs @ git+https://github.com/team/my-vcs.git@{'a' * 40}" in pins
    assert f"my-archive @ https://files.example.org/my_archive-4.0.tar.gz#sha256={'b' * 64}" in pins
    i = pins.index("my-editable==0.3")
    assert pins[i - 1].startswith("# my-editable: editable install from file://")
    assert f"gitpython=={im.version('gitpython')}" in pins
    assert "# nope: not installed" in pins
    all_pins = package_pins(env)
    assert len([p for p in all_pins if not p.startswith("#")]) == len(pk)


def test_first_distribution_on_sys_path_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "shadow"
    make_dist(site, "gitpython-0.0.1.dist-info", "GitPython", "0.0.1")
    monkeypatch.syspath_prepend(str(site))
    assert capture_environment()["packages"]["gitpython"]["version"] == "0.0.1"
    monkeypatch.undo()
    assert capture_environment()["packages"]["gitpython"]["version"] == im.version("gitpython")


def test_imported_by_distribution_without_importing_torch() -> None:
    out = run_python(
        """
        import json, sys
        import yaml, git, dateutil.parser
        from repro_nb.capture.environment import capture_environment
        from repro_nb.capture.packages import imported_distributions
        env = capture_environment()
        print(json.dumps({"imported": env["imported"], "dists": imported_distributions(env),
                          "torch": "torch" in sys.modules, "gpu": env["gpu"]["source"],
                          "flag": env["gpu"]["float32_matmul_precision"]}))
        """
    )
    assert {"pyyaml", "gitpython", "python-dateutil"} <= set(out["imported"])
    assert out["dists"] == sorted(out["imported"])
    assert "torch" not in out["imported"]
    assert out["torch"] is False  # capture never imports torch
    assert out["gpu"] != "torch" and out["flag"] is None


def test_torch_settings_read_from_an_imported_torch() -> None:
    out = run_python(
        """
        import json
        import torch
        from repro_nb.capture.environment import EnvironmentWatcher, capture_environment
        w = EnvironmentWatcher()
        w.changed()
        first = capture_environment()
        torch.set_float32_matmul_precision("high")
        torch.set_num_threads(1)
        changed = w.changed()
        second = capture_environment()
        print(json.dumps({"first": first["gpu"], "second": second["gpu"], "changed": changed,
                          "threads": second["threads"], "imported": second["imported"],
                          "cuda_init": torch.cuda.is_initialized()}))
        """
    )
    import torch  # the test itself may import it; the product code never does

    assert out["first"]["source"] == "torch"
    assert out["first"]["torch_version"] == torch.__version__
    assert out["first"]["float32_matmul_precision"] == "highest"
    assert out["first"]["deterministic_algorithms"] is False
    assert isinstance(out["first"]["allow_tf32_matmul"], bool)
    assert out["changed"] is True
    assert out["second"]["float32_matmul_precision"] == "high"
    assert out["threads"]["torch_num_threads"] == 1
    assert "torch" in out["imported"]
    assert out["cuda_init"] is False  # reading the flags never initialises CUDA


def test_hash_seed_effective_value() -> None:
    code = """
        import json, os
        os.environ["PYTHONHASHSEED"] = "7"  # too late for this interpreter
        from repro_nb.capture.environment import capture_environment
        print(json.dumps(capture_environment()["python"]))
        """
    fixed = run_python(code, PYTHONHASHSEED="0")
    assert fixed["hash_seed"] == "0" and fixed["hash_randomization"] is False
    assert fixed["hash_seed_env"] == "7"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    random_seed = json.loads(proc.stdout)
    assert random_seed["hash_seed"] is None and random_seed["hash_randomization"] is True


# --------------------------------------------------------------------------------------
# Caching, hash and watcher


def test_warm_call_returns_an_independent_copy() -> None:
    a = capture_environment()
    a["packages"].clear()
    a["python"]["version"] = "0.0"
    b = capture_environment()
    assert b["packages"] and b["python"]["version"] == platform.python_version()


def test_environment_hash_is_stable_and_content_sensitive() -> None:
    a = capture_environment(refresh=True)
    b = capture_environment(refresh=True)
    assert environment_hash(a) == environment_hash(b)
    c = json.loads(json.dumps(a))
    c["captured_at"] += 100
    c["imported"] = []
    assert environment_hash(c) == environment_hash(a)
    c["packages"]["gitpython"]["version"] = "0.0.0"
    assert environment_hash(c) != environment_hash(a)
    assert len(environment_hash(a)) == 64


def test_watcher_detects_env_var_install_and_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = EnvironmentWatcher()
    assert w.changed() is True
    assert w.changed() is False
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert w.changed() is True
    assert capture_environment()["threads"]["OMP_NUM_THREADS"] == "3"
    assert w.changed() is False

    site = tmp_path / "site"
    make_dist(site, "oldpkg-1.0.dist-info", "oldpkg", "1.0")
    monkeypatch.syspath_prepend(str(site))
    assert w.changed() is True  # sys.path changed
    assert w.changed() is False
    # "pip install" into a folder already on sys.path changes its mtime.
    make_dist(site, "newpkg-1.0.dist-info", "newpkg", "1.0")
    os.utime(site, ns=(0, os.stat(site).st_mtime_ns + 10**9))
    assert w.changed() is True
    assert capture_environment()["packages"]["newpkg"]["version"] == "1.0"

    # A newly imported third-party top-level module, which top_level.txt maps to its dist.
    (site / "newpkg_mod.py").write_text("VALUE = 1\n")
    (site / "newpkg-1.0.dist-info" / "top_level.txt").write_text("newpkg_mod\n")
    assert w.changed() is True  # the folder changed again
    assert "newpkg" not in capture_environment()["imported"]
    assert w.changed() is False
    monkeypatch.setitem(sys.modules, "newpkg_mod", __import__("newpkg_mod"))
    assert w.changed() is True
    assert "newpkg" in capture_environment()["imported"]
    assert w.capture_if_changed() is None


# --------------------------------------------------------------------------------------
# Secrets


def test_secret_env_vars_never_reach_the_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    # Allow-listed variables holding secret-looking values are redacted.
    monkeypatch.setenv("XLA_FLAGS", f"--xla_dump_to=/tmp --auth=Bearer {GITHUB_TOKEN}")
    monkeypatch.setenv("PYTHONPATH", f"/opt/lib:{AWS_KEY_ID}")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    env = capture_environment()
    dumped = json.dumps(env)
    for secret in (GITHUB_TOKEN, AWS_SECRET, AWS_KEY_ID, "MY_API_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        assert secret not in dumped
    assert env["env_vars"]["XLA_FLAGS"] == REDACTED
    assert env["env_vars"]["PYTHONPATH"] == REDACTED
    assert env["env_vars"]["PYTHONHASHSEED"] == "0"
    assert env["env_vars"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert set(env["env_vars"]) <= set(ENV_ALLOWLIST)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("MY_API_TOKEN", "abcdefgh12345678", True),
        ("DB_PASSWORD", "hunter22", True),
        ("SOME_VAR", GITHUB_TOKEN, True),
        ("SOME_VAR", AWS_KEY_ID, True),
        ("HF_TOKEN", "hf_" + "a" * 34, True),
        ("CUBLAS_WORKSPACE_CONFIG", ":4096:8", False),
        ("CUDA_VISIBLE_DEVICES", "GPU-8f3a2b1c-4d5e-6f70-8a9b-0c1d2e3f4a5b", False),
        ("TF_ENABLE_KEY_CHECK", "1", False),
        ("MONKEY_COUNT", "a-long-but-harmless-value", False),
        ("LANG", "en_US.UTF-8", False),
        ("API_KEY", "", False),
        ("SSH_AUTH_SOCK", "/tmp/ssh-XXXXabcd/agent.12345", False),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/home/u/.config/gcloud/key.json", False),
        ("JPY_SESSION_NAME", "/home/u/work/analysis.ipynb", False),
        ("DB_PASSWORD", "/notapath secret", True),
    ],
)
def test_looks_secret(name: str, value: str, secret: bool) -> None:
    assert looks_secret(name, value) is secret


def test_find_and_redact_secrets() -> None:
    text = (
        f"token {GITHUB_TOKEN} here\n"
        f"key id {AWS_KEY_ID}\n"
        f"aws_secret_access_key = {AWS_SECRET}\n"
        "Authorization: Bearer abcdef0123456789ABCDEF.xyz\n"
        f"{PRIVATE_KEY}\n"
        "url https://bob:pa55-Word-99@host.example/x\n"
        'config = {"api_key": "Qm9vZ2xlMzQ1Njc4OTBhYmNkZWY"}\n'
        "plain words, a path /usr/lib/x86_64-linux-gnu and a version 3.11.7 stay\n"
    )
    kinds = {m.kind for m in find_secrets(text)}
    assert {
        "GitHub token",
        "AWS access key id",
        "AWS secret access key",
        "Bearer token",
        "private key",
        "password in URL",
    } <= kinds
    assert any(k.startswith("secret assigned to") for k in kinds)
    clean = redact_secrets(text)
    for secret in (GITHUB_TOKEN, AWS_KEY_ID, AWS_SECRET, "abcdef0123456789ABCDEF", "pa55-Word-99"):
        assert secret not in clean
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in clean
    assert "Qm9vZ2xlMzQ1Njc4OTBhYmNkZWY" not in clean
    assert "https://bob:<redacted>@host.example/x" in clean
    assert "Authorization: Bearer <redacted>" in clean
    assert f"aws_secret_access_key = {REDACTED}" in clean
    assert "plain words, a path /usr/lib/x86_64-linux-gnu and a version 3.11.7 stay" in clean
    assert redact_secrets("nothing to see") == "nothing to see"
    assert [m.to_dict()["kind"] for m in find_secrets("x")] == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://oauth2:TOKEN123@gitlab.com/a/b.git", "https://gitlab.com/a/b.git"),
        (f"https://{GITHUB_TOKEN}@github.com/a/b", "https://github.com/a/b"),
        ("https://user@github.com/a/b", "https://github.com/a/b"),
        ("ssh://git@github.com/a/b.git", "ssh://git@github.com/a/b.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("ssh://git:pw@host/a", "ssh://host/a"),
        ("https://host/a?access_token=abc123&x=1", "https://host/a?access_token=&x=1"),
        ("file:///home/u/src/pkg", "file:///home/u/src/pkg"),
        ("", ""),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_imported_distributions_filters_unknown() -> None:
    env = {"packages": {"numpy": {}, "pyyaml": {}}, "imported": ["pyyaml", "numpy", "gone"]}
    assert imported_distributions(env) == ["numpy", "pyyaml"]


def test_distributions_for_modules_matches_importlib() -> None:
    names = ["yaml", "git", "dateutil.parser", "zmq", "PIL", "numpy", "os", "not_a_module_xyz"]
    got = distributions_for_modules(names)
    reference = im.packages_distributions()
    for top in ("yaml", "git", "dateutil", "zmq", "PIL", "numpy"):
        assert got[top] == sorted({canonicalize_name(d) for d in reference[top]}), top
    assert got["os"] == [] and got["not_a_module_xyz"] == []

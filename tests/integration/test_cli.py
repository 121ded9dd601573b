# SPDX-License-Identifier: Apache-2.0
"""The command line as a person meets it: --help, --version, typos, --mode validate on good
and broken configs (the error text is asserted), concurrency from the affinity mask."""
import json
import os
import subprocess


from conftest import REMORA_BIN, ROOT, bootstrap, free_port, static_cluster, tcp_listener


def run(*args, timeout=20, **kw):
    return subprocess.run([REMORA_BIN, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_help_lists_envoy_flags():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--config-path", "--config-yaml", "--mode", "--concurrency", "--log-level",
                 "--component-log-level", "--log-path", "--drain-time-s", "--service-cluster",
                 "--service-node", "--service-zone", "--version"):
        assert flag in r.stdout, flag


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("remora version: ")


def test_unknown_flag_hints():
    r = run("--concurency", "2")
    assert r.returncode != 0
    assert "unknown option '--concurency'" in r.stderr
    assert "did you mean '--concurrency'?" in r.stderr


def test_bad_flag_values():
    assert "--mode" in run("--mode", "bogus", "-c", "x").stderr
    r = run("--concurrency", "0", "-c", "x")
    assert r.returncode != 0 and "--concurrency" in r.stderr
    r = run("--log-level", "loud", "-c", "x")
    assert r.returncode != 0 and "--log-level" in r.stderr
    r = run("--component-log-level", "nosuch:debug", "-c", "x")
    assert r.returncode != 0 and "unknown log component 'nosuch'" in r.stderr


def test_no_config_is_an_error():
    r = run()
    assert r.returncode != 0
    assert "no configuration" in r.stderr


def test_validate_default_config_ok():
    path = os.path.join(ROOT, "config", "examples", "default.yaml")
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 0, r.stderr
    assert f"configuration '{path}' OK" in r.stdout


def test_validate_reports_every_error_with_position(tmp_path):
    cfg = """static_resources:
  clusters:
  - name: a
    connect_timeout: 5
    lb_policy: ROUND_ROBIN
  - name: b
    typo_field: 1
"""
    path = write(tmp_path, "bad.yaml", cfg)
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 1
    err = r.stderr
    # Both problems, each with file:line:col and the field path.
    assert f"{path}:4:22: static_resources.clusters[0].connect_timeout" in err, err
    assert f"{path}:7:5: static_resources.clusters[1]" in err and "typo_field" in err, err
    assert "2 errors" in err


def test_validate_malformed_yaml(tmp_path):
    path = write(tmp_path, "broken.yaml", "static_resources:\n  clusters: [\n")
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 1
    assert f"{path}:" in r.stderr


def test_validate_port_out_of_range(tmp_path):
    cfg = bootstrap(9901, [tcp_listener("l", 70000, "stat_prefix: s\ncluster: c")],
                    [static_cluster("c", [1])])
    path = write(tmp_path, "port.yaml", cfg)
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 1
    assert "port_value" in r.stderr and "70000" in r.stderr, r.stderr


def test_validate_unknown_cluster(tmp_path):
    cfg = bootstrap(9901, [tcp_listener("l", 1000, "stat_prefix: s\ncluster: nope")],
                    [static_cluster("c", [1])])
    path = write(tmp_path, "uc.yaml", cfg)
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 1
    assert "nope" in r.stderr and "static_resources.listeners[0]" in r.stderr, r.stderr


def test_validate_unsupported_feature_is_refused(tmp_path):
    cfg = """static_resources:
  clusters:
  - name: a
    type: EDS
"""
    path = write(tmp_path, "eds.yaml", cfg)
    r = run("--mode", "validate", "-c", path)
    assert r.returncode == 1
    assert "static_resources.clusters[0].type" in r.stderr, r.stderr
    assert "not supported" in r.stderr


def test_validate_does_not_bind(tmp_path):
    """validate never binds: a config whose ports are taken still validates."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    cfg = bootstrap(port, [tcp_listener("l", port, "stat_prefix: s\ncluster: c")],
                    [static_cluster("c", [1])])
    r = run("--mode", "validate", "-c", write(tmp_path, "taken.yaml", cfg))
    s.close()
    assert r.returncode == 0, r.stderr


def test_config_yaml_merges_over_file(tmp_path, remora):
    """--config-yaml is merged over the file: here it adds the admin listener."""
    port = free_port()
    base = f"""static_resources:
  clusters:
  - name: c
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: 1 }} }} }}
"""
    r = remora(base, args=["--config-yaml",
                           f"admin: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}"],
               admin_port=port)
    st, body, _ = r.get("/server_info")
    assert st == 200
    assert json.loads(body)["state"] == "LIVE"


def test_bind_failure_is_reported(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    cfg = bootstrap(free_port(), [tcp_listener("busy", port, "stat_prefix: s\ncluster: c")],
                    [static_cluster("c", [1])])
    r = run("-c", write(tmp_path, "busy.yaml", cfg), "--concurrency", "1")
    s.close()
    assert r.returncode != 0
    assert f"cannot bind 127.0.0.1:{port}" in r.stderr, r.stderr


def test_default_concurrency_follows_affinity(remora):
    """Pinned to one CPU, Remora starts one worker, not one per host core."""
    r = remora(f"""admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {{admin_port}} }} }}
""", start=False)
    r.args = []
    import subprocess as sp
    r.logf = open(r.log_path, "ab")
    r.proc = sp.Popen(["taskset", "-c", "0", REMORA_BIN, "-c", r.config_path],
                      stdout=r.logf, stderr=sp.STDOUT, stdin=sp.DEVNULL)
    r.wait_ready()
    assert r.stat("server.concurrency") == 1
    st, body, _ = r.get("/server_info")
    assert json.loads(body)["command_line_options"]["concurrency"] == 1

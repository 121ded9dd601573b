# SPDX-License-Identifier: Apache-2.0
"""Runtime disk layers, the way an operator uses them: a runtime tree reached through a
symlink, a new tree swapped in atomically (`ln -s new tmp && mv -T tmp current`), and the
proxy's weighted_clusters.runtime_key_prefix split or a runtime_fraction route following it
live, visible in /runtime, in the runtime.* stats and in traffic. A missing directory is an
empty layer; an unreadable or oversized file keeps the last good values and counts
runtime.load_error."""
import json
import os
import subprocess

from conftest import REMORA_BIN, free_port, wait_for
from http_helpers import (cluster, hcm, http_listener, one_request, py_origins,  # noqa: F401
                          vhost, wait_stat, wait_stats)


def write_tree(base, files):
    """files: {"envoy/routing/canary/v1": "100\\n", ...} under directory `base`."""
    for rel, content in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content) if isinstance(content, str) else p.write_bytes(content)
    base.mkdir(parents=True, exist_ok=True)
    return base


def swap(rt_dir, version):
    """What an operator runs: point `current` at `version` with one atomic rename."""
    subprocess.run(["ln", "-sfn", version, "tmp"], cwd=rt_dir, check=True)
    subprocess.run(["mv", "-T", "tmp", "current"], cwd=rt_dir, check=True)


def config(admin, port, v1, v2, layers, routes=None):
    wc = {"weighted_clusters": {"runtime_key_prefix": "routing.canary",
                                "clusters": [{"name": "v1", "weight": 90},
                                             {"name": "v2", "weight": 10}]}}
    routes = routes or [{"match": {"prefix": "/"}, "route": wc}]
    return json.dumps({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "layered_runtime": {"layers": layers},
        "static_resources": {
            "listeners": [http_listener("http", port, hcm([vhost("v", ["*"], routes)]))],
            "clusters": [cluster("v1", [v1.port]), cluster("v2", [v2.port])]}})


def start(remora, py_origins, layers, routes=None, args=()):
    v1 = py_origins(handler=lambda req: {"status": 200, "body": b"v1"})
    v2 = py_origins(handler=lambda req: {"status": 200, "body": b"v2"})
    port, admin = free_port(), free_port()
    r = remora(config(admin, port, v1, v2, layers, routes), admin_port=admin,
               args=["--concurrency", "2", *args])
    return r, port


def split(port, n=40):
    seen = {}
    for _ in range(n):
        body = one_request(port, "GET", "/").body
        seen[body] = seen.get(body, 0) + 1
    return seen


def wait_split(port, want, timeout=5.0):
    """Workers apply a new snapshot from their mailbox: wait until traffic shows it."""
    last = {}

    def ok():
        last["s"] = split(port, 20)
        return last["s"] == want
    try:
        wait_for(ok, timeout, what=f"split {want}")
    except AssertionError:
        raise AssertionError(f"traffic split is {last['s']}, expected {want}")


def runtime(r):
    st, body, _ = r.get("/runtime")
    assert st == 200, body
    return json.loads(body)


def test_symlink_swap_shifts_weighted_clusters(remora, py_origins, tmp_path):
    rt_dir = tmp_path / "runtime"
    write_tree(rt_dir / "v1", {"envoy/routing/canary/v1": "100\n",
                               "envoy/routing/canary/v2": "0\n",
                               "other/ignored": "1"})   # another subdirectory: not this layer
    swap(rt_dir, "v1")
    r, port = start(remora, py_origins, [
        {"name": "static", "static_layer": {"routing": {"canary": {"v1": 50, "v2": 50}}}},
        {"name": "disk", "disk_layer": {"symlink_root": str(rt_dir / "current"),
                                        "subdirectory": "envoy"}},
        {"name": "admin", "admin_layer": {}}])
    assert split(port) == {b"v1": 40}            # the disk layer overrides static 50/50
    rt = runtime(r)
    assert rt["layers"] == ["static", "disk", "admin"]
    assert rt["entries"] == {
        "routing.canary.v1": {"final_value": "100", "layer_values": ["50", "100", ""]},
        "routing.canary.v2": {"final_value": "0", "layer_values": ["50", "0", ""]}}
    wait_stats(r, {"runtime.load_success": 1, "runtime.load_error": 0, "runtime.num_layers": 3,
                   "runtime.num_keys": 2, "runtime.override_dir_not_exists": 1,
                   "runtime.override_dir_exists": 0, "runtime.admin_overrides_active": 0})

    # The operator ships v2 (comments and trailing newlines as people write them) and swaps.
    write_tree(rt_dir / "v2", {"envoy/routing/canary/v1": "# canary done\n0\n",
                               "envoy/routing/canary/v2": "100   \n\n"})
    swap(rt_dir, "v2")
    wait_stat(r, "runtime.load_success", 2)
    wait_split(port, {b"v2": 20})
    rt = runtime(r)
    assert rt["entries"]["routing.canary.v1"] == {"final_value": "0",
                                                  "layer_values": ["50", "0", ""]}
    assert rt["entries"]["routing.canary.v2"]["final_value"] == "100"

    # The admin layer still wins over the disk, and /runtime_modify re-reads the disk (a new
    # snapshot each time, as in Envoy).
    st, body, _ = r.post("/runtime_modify?routing.canary.v1=1&routing.canary.v2=0")
    assert st == 200, body
    wait_split(port, {b"v1": 20})
    s = wait_stats(r, {"runtime.load_success": 3, "runtime.admin_overrides_active": 1})
    assert s["runtime.num_layers"] == 3
    # Writing into the live tree without a swap is not seen until the next snapshot.
    (rt_dir / "v2" / "envoy" / "routing" / "canary" / "v3").write_text("7")
    assert "routing.canary.v3" not in runtime(r)["entries"]
    r.post("/runtime_modify?routing.canary.v1=&routing.canary.v2=")
    assert runtime(r)["entries"]["routing.canary.v3"]["final_value"] == "7"
    wait_split(port, {b"v2": 20})


def test_runtime_fraction_route_with_service_cluster(remora, py_origins, tmp_path):
    """append_service_cluster reads <subdirectory>/<--service-cluster>; a runtime_fraction
    route follows the value live."""
    rt_dir = tmp_path / "rt"
    write_tree(rt_dir / "a", {"override/edge/routing/to_v2": "100\n",
                              "override/other/routing/to_v2": "0\n"})
    swap(rt_dir, "a")
    routes = [{"match": {"prefix": "/", "runtime_fraction": {
                  "default_value": {"numerator": 0}, "runtime_key": "routing.to_v2"}},
               "route": {"cluster": "v2"}},
              {"match": {"prefix": "/"}, "route": {"cluster": "v1"}}]
    r, port = start(remora, py_origins, [
        {"name": "per_cluster", "disk_layer": {"symlink_root": str(rt_dir / "current"),
                                               "subdirectory": "override",
                                               "append_service_cluster": True}}],
        routes=routes, args=["--service-cluster", "edge"])
    assert split(port) == {b"v2": 40}
    assert runtime(r)["entries"] == {
        "routing.to_v2": {"final_value": "100", "layer_values": ["100"]}}
    write_tree(rt_dir / "b", {"override/edge/routing/to_v2": "0"})
    swap(rt_dir, "b")
    wait_split(port, {b"v1": 20})
    wait_stats(r, {"runtime.load_success": 2, "runtime.num_layers": 1, "runtime.num_keys": 1})


def test_missing_directory_is_an_empty_layer(remora, py_origins, tmp_path):
    rt_dir = tmp_path / "runtime"
    rt_dir.mkdir()                                   # `current` does not exist yet
    layers = [{"name": "disk", "disk_layer": {"symlink_root": str(rt_dir / "current"),
                                              "subdirectory": "envoy"}},
              {"name": "override", "disk_layer": {"symlink_root": str(rt_dir / "current"),
                                                  "subdirectory": "envoy_override"}},
              {"name": "admin", "admin_layer": {}}]
    r, port = start(remora, py_origins, layers)
    rt = runtime(r)
    assert rt == {"layers": ["admin"], "entries": {}}   # Envoy lists only existing layers
    s = wait_stats(r, {"runtime.load_success": 1, "runtime.load_error": 0,
                       "runtime.num_layers": 1, "runtime.num_keys": 0,
                       "runtime.override_dir_not_exists": 1})
    got = split(port, 100)                              # the configured 90/10
    assert set(got) == {b"v1", b"v2"} and got[b"v1"] > got[b"v2"], got

    # The tree appears: both directories exist, so Envoy counts override_dir_exists.
    write_tree(rt_dir / "v1", {"envoy/routing/canary/v1": "0",
                               "envoy/routing/canary/v2": "1",
                               "envoy_override/routing/canary/v2": "5"})
    swap(rt_dir, "v1")
    s = wait_stats(r, {"runtime.load_success": 2, "runtime.num_layers": 3,
                       "runtime.num_keys": 2, "runtime.override_dir_exists": 1})
    assert s["runtime.override_dir_not_exists"] == 1
    wait_split(port, {b"v2": 20})
    assert runtime(r)["entries"]["routing.canary.v2"] == {"final_value": "5",
                                                          "layer_values": ["1", "5", ""]}

    # A tree without the override directory: that layer leaves the snapshot again.
    write_tree(rt_dir / "v2", {"envoy/routing/canary/v1": "3", "envoy/routing/canary/v2": "0"})
    swap(rt_dir, "v2")
    wait_stats(r, {"runtime.load_success": 3, "runtime.num_layers": 2,
                   "runtime.override_dir_not_exists": 2})
    assert runtime(r)["layers"] == ["disk", "admin"]
    wait_split(port, {b"v1": 20})
    assert "[error]" not in r.log() and "[warning]" not in r.log()


def test_bad_tree_keeps_last_good_values(remora, py_origins, tmp_path):
    rt_dir = tmp_path / "runtime"
    write_tree(rt_dir / "good", {"envoy/routing/canary/v1": "0", "envoy/routing/canary/v2": "1"})
    swap(rt_dir, "good")
    r, port = start(remora, py_origins, [
        {"name": "disk", "disk_layer": {"symlink_root": str(rt_dir / "current"),
                                        "subdirectory": "envoy"}}])
    assert split(port) == {b"v2": 40}

    # An oversized file (runaway generator): the whole read fails, the old values stay.
    write_tree(rt_dir / "big", {"envoy/routing/canary/v1": "100",
                                "envoy/routing/canary/v2": "0",
                                "envoy/blob": b"x" * (64 * 1024 + 1)})
    swap(rt_dir, "big")
    s = wait_stat(r, "runtime.load_error", 1)
    assert s["runtime.load_success"] == 1 and s["runtime.num_layers"] == 1
    assert split(port) == {b"v2": 40}
    rt = runtime(r)
    assert rt["layers"] == ["disk"]
    assert rt["entries"]["routing.canary.v2"] == {"final_value": "1", "layer_values": ["1"]}
    wait_for(lambda: "above the limit of 65536 bytes" in r.log(), what="size error logged")
    assert "keeping its last good values" in r.log()

    # An unreadable file (a dangling symlink: Envoy reads it and fails; root reads any mode).
    write_tree(rt_dir / "dangling", {"envoy/routing/canary/v1": "100",
                                     "envoy/routing/canary/v2": "0"})
    os.symlink("/nonexistent/remora-runtime", rt_dir / "dangling" / "envoy" / "broken")
    swap(rt_dir, "dangling")
    wait_stat(r, "runtime.load_error", 2)
    wait_for(lambda: "unable to read file" in r.log(), what="read error logged")
    assert split(port) == {b"v2": 40}

    # A good tree again: loads, counts a success, and traffic follows.
    write_tree(rt_dir / "fixed", {"envoy/routing/canary/v1": "100", "envoy/routing/canary/v2": "0"})
    swap(rt_dir, "fixed")
    wait_stat(r, "runtime.load_success", 2)
    wait_split(port, {b"v1": 20})


def test_unwatchable_symlink_root_fails_at_start(tmp_path):
    """Envoy cannot add the inotify watch when the symlink root's directory does not exist,
    and refuses to start; so does Remora, naming the path."""
    admin = free_port()
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "layered_runtime": {"layers": [{"name": "disk", "disk_layer": {
            "symlink_root": str(tmp_path / "nope" / "current"), "subdirectory": "envoy"}}]}}))
    p = subprocess.run([REMORA_BIN, "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert f"unable to add filesystem watch for {tmp_path}/nope/current" in out, out

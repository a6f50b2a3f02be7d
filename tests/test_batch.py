"""Batches: discovery, folder names, failure isolation, parallel = serial, resume, stdin."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, load_manifest, write_png

from cnnpipe.batch import discover


def make_folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("b.png", "a.png", "sub/c.png"):
        write_png(src / name, rng.integers(0, 256, (12, 10)))
    (src / ".hidden.png").write_bytes(b"not looked at")
    (src / "notes.md").write_text("ignored: not an image")
    return src


def test_discover_sorts_skips_hidden_and_only_descends_with_recursive(tmp_path):
    src = make_folder(tmp_path)
    flat = discover([str(src)])
    assert [j.name for j in flat] == ["a", "b"]
    deep = discover([str(src)], recursive=True)
    assert [j.name for j in deep] == ["a", "b", "sub/c"]


def test_discover_extensions_are_case_insensitive(tmp_path):
    write_png(tmp_path / "UP.PNG", np.zeros((4, 4)))
    assert [j.name for j in discover([str(tmp_path)])] == ["UP"]


def test_colliding_names_are_disambiguated_visibly(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4)))
    (tmp_path / "a.csv").write_text("1,2\n3,4\n")
    warnings = []
    jobs = discover([str(tmp_path)], on_warning=warnings.append)
    assert sorted(j.name for j in jobs) == ["a.csv", "a.png"]
    assert len(warnings) == 2


def test_same_file_twice_gets_two_folders(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4)))
    jobs = discover([str(tmp_path / "a.png"), str(tmp_path / "a.png")])
    assert len({j.name for j in jobs}) == 2


def test_symlink_loop_does_not_hang(tmp_path):
    src = make_folder(tmp_path)
    os.symlink(src, src / "sub" / "loop")
    jobs = discover([str(src)], recursive=True)
    assert [j.name for j in jobs] == ["a", "b", "sub/c"]


def test_a_fifo_named_manifest_json_in_the_input_tree_does_not_hang_the_scan(invoke, tmp_path):
    # the scan reads manifest.json in each sub-folder (to skip cnnpipe's own output);
    # opening a FIFO for reading would wait for a writer forever
    src = make_folder(tmp_path)
    os.mkfifo(src / "sub" / "manifest.json")
    jobs = discover([str(src)], recursive=True)
    assert [j.name for j in jobs] == ["a", "b", "sub/c"]
    out = tmp_path / "out"
    os.makedirs(out / "a")
    os.mkfifo(out / "a" / "manifest.json")  # and in an output folder being re-run into
    result = invoke("run", src, "-r", "-o", out, "-k", "box", "-q", "-j", "1")
    assert result.exit_code == 0, result.output
    assert load_manifest(out / "a")["files"]


def test_json_records_are_read_only_from_sane_regular_files(tmp_path, monkeypatch):
    from cnnpipe.io import jsonfile as _jsonfile

    good = tmp_path / "good.json"
    good.write_text('{"files": ["a.png"]}')
    assert _jsonfile.load_json(good) == {"files": ["a.png"]}
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe not json")
    assert _jsonfile.load_json(tmp_path / "bad.json") is None
    assert _jsonfile.load_json(tmp_path / "missing.json") is None
    assert _jsonfile.load_json(tmp_path) is None  # a folder
    os.mkfifo(tmp_path / "fifo.json")
    assert _jsonfile.load_json(tmp_path / "fifo.json") is None
    assert _jsonfile.load_json(good, max_bytes=5) is None  # too large to be a record


def test_dot_dot_names_cannot_escape_the_output_root(tmp_path):
    jobs = discover([str(tmp_path / "...png")])
    assert jobs[0].name not in ("..", ".")
    assert "/" not in jobs[0].name


def test_folder_with_a_broken_file_exits_1_and_keeps_the_rest(invoke, tmp_path):
    src = make_folder(tmp_path)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    result = invoke("run", src, "-r", "-o", out, "-k", "box", "-j", "1")
    assert result.exit_code == 1
    bad = [line for line in result.stderr.splitlines() if "broken.png" in line]
    assert len(bad) == 1
    for name in ("a", "b", "sub/c"):
        assert (out / name / "manifest.json").is_file()
    assert not (out / "broken").exists() or not (out / "broken" / "manifest.json").exists()


def test_parallel_output_is_byte_identical_to_serial(invoke, tmp_path):
    src = make_folder(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    assert invoke("run", src, "-r", "-o", one, "-j", "1", "--npy").exit_code == 0
    assert invoke("run", src, "-r", "-o", two, "-j", "2", "--npy").exit_code == 0
    files_one = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    files_two = sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert files_one == files_two and files_one
    for rel in files_one:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_json_lines_parse_and_report_every_input(invoke, tmp_path):
    src = make_folder(tmp_path)
    (src / "bad.csv").write_text("1,2\n3\n")
    result = invoke("run", src, "-o", tmp_path / "out", "--json", "-k", "box")
    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    status = {o["input"]["path"].rsplit("/", 1)[-1]: o["status"] for o in objects}
    assert status == {"a.png": "ok", "b.png": "ok", "bad.csv": "failed"}
    failed = next(o for o in objects if o["status"] == "failed")
    assert failed["error"]


def test_stdin_input_goes_to_the_stdin_folder(invoke, tmp_path):
    data = (SAMPLES / "tutorial.csv").read_bytes()
    result = invoke("run", "-", "-k", "tutorial", "-o", tmp_path, input=data)
    assert result.exit_code == 0, result.output
    m = load_manifest(tmp_path / "stdin")
    assert m["input"]["path"] == "-"
    assert m["input"]["width"] == 7


def test_skip_existing_skips_complete_inputs_with_same_settings(invoke, tmp_path):
    src = make_folder(tmp_path)
    out = tmp_path / "out"
    assert invoke("run", src, "-o", out, "-k", "box").exit_code == 0
    again = invoke("run", src, "-o", out, "-k", "box", "--skip-existing", "--json")
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == ["skipped"] * 2
    changed = invoke("run", src, "-o", out, "-k", "sobel-x", "--skip-existing", "--json")
    assert [json.loads(line)["status"] for line in changed.stdout.splitlines()] == ["ok"] * 2


def test_dry_run_writes_nothing(invoke, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "box", "-o", out, "--dry-run")
    assert result.exit_code == 0
    assert "01-conv-box.png" in result.stdout
    assert "manifest.json" in result.stdout
    assert not out.exists()


def test_fail_fast_stops_at_the_first_failure(invoke, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text("x,y\n")
    write_png(src / "b.png", np.zeros((8, 8)))
    result = invoke("run", src, "-o", tmp_path / "out", "--fail-fast", "-j", "1", "-k", "box")
    assert result.exit_code == 1
    assert not (tmp_path / "out" / "b" / "manifest.json").exists()


def test_sigint_leaves_only_complete_files_and_skip_existing_completes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        write_png(src / f"img{i:02d}.png", rng.integers(0, 256, (300, 300)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(src), "-o", str(out), "-j", "1",
           "--random", "8", "--npy", "-q"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not any(out.rglob("manifest.json")):
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    for path in out.rglob("*"):
        assert "cnnpipe-tmp" not in path.name, path
        if path.suffix == ".png":
            from PIL import Image

            with Image.open(path) as im:
                im.load()  # a truncated PNG would raise here
        if path.suffix == ".npy":
            np.load(path)
    done_before = len(list(out.rglob("manifest.json")))
    assert 0 < done_before < 40
    rerun = subprocess.run(cmd[:-1] + ["--skip-existing", "--json"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    statuses = [json.loads(line)["status"] for line in rerun.stdout.splitlines()]
    assert statuses.count("skipped") == done_before
    assert statuses.count("ok") + statuses.count("skipped") == 40


def test_a_file_beside_a_folder_of_the_same_name_gets_its_own_folder(tmp_path):
    write_png(tmp_path / "A.png", np.zeros((4, 4)))
    (tmp_path / "A").mkdir()
    write_png(tmp_path / "A" / "x.png", np.zeros((4, 4)))
    warnings = []
    jobs = discover([str(tmp_path)], recursive=True, on_warning=warnings.append)
    names = sorted(j.name for j in jobs)
    assert names == ["A.png", "A/x"]  # not A/ (which would hold A/x/ inside it)
    assert len(warnings) == 1 and "A.png" in warnings[0]


def test_workers_are_a_budget_of_cores(monkeypatch):
    from cnnpipe.batch import threads_per_input

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert threads_per_input(1, 50) == 1  # -j 1: one input at a time, on one thread
    assert threads_per_input(2, 50) == 1  # two processes, one thread each
    assert threads_per_input(2, 1) == 2  # one input gets both cores
    assert threads_per_input(4, 2) == 2  # two inputs, two threads each
    assert threads_per_input(16, 1) == 8  # never more threads than cores


@pytest.mark.parametrize("workers, n_inputs, expected", [(1, 1, 1), (1, 2, 1), (2, 1, 2)])
def test_the_thread_budget_reaches_the_engines_as_an_argument(tmp_path, monkeypatch, workers,
                                                              n_inputs, expected):
    # -j N is a budget of N cores: one input at a time on -j 1 gets one thread, a single
    # input on -j 2 gets two; the engines are told so, no module setting is changed.
    from cnnpipe import layer
    from cnnpipe.batch import run_batch
    from cnnpipe.kernels import kernel
    from cnnpipe.ops import engines
    from cnnpipe.outputs import RunConfig

    seen = []
    real = engines.correlate

    def correlate(*args, **kwargs):
        seen.append(kwargs.get("threads"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engines, "correlate", correlate)
    paths = [str(write_png(tmp_path / f"{i}.png", np.zeros((6, 6)))) for i in range(n_inputs)]
    config = RunConfig(params=layer.Params(), kernels=(kernel("box"),),
                       out_root=str(tmp_path / "out"))
    before = {name: getattr(engines, name) for name in dir(engines) if name.isupper()}
    result = run_batch(discover(paths), config, workers=workers)
    assert result.counts["ok"] == n_inputs
    assert seen == [min(expected, os.cpu_count() or 1)] * n_inputs
    assert {name: getattr(engines, name) for name in dir(engines) if name.isupper()} == before


def test_j1_keeps_to_one_core(tmp_path):
    # -j 1 is one core, so `xargs -P 4 cnnpipe run -j 1` does not oversubscribe the machine.
    # Loading the machine only lowers CPU time per wall second, so the bound cannot flake.
    import resource

    write_png(tmp_path / "big.png", np.random.default_rng(0).integers(0, 256, (1600, 1600)))
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(tmp_path / "big.png"), "-o",
           str(tmp_path / "out"), "-j", "1", "--random", "12", "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 1.05 * wall, (cpu, wall)


def _folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_separate_runs_of_two_files_with_one_name_never_overwrite_each_other(invoke, tmp_path):
    # `find | xargs cnnpipe run` splits a long list into several runs; cats/a.png and
    # dogs/a.png may land in different ones, and both want the folder `a`
    rng = np.random.default_rng(3)
    for kind in ("cats", "dogs"):
        (tmp_path / kind).mkdir()
        write_png(tmp_path / kind / "a.png", rng.integers(0, 256, (9, 11)))
    out = tmp_path / "out"
    cats, dogs = tmp_path / "cats" / "a.png", tmp_path / "dogs" / "a.png"
    assert invoke("run", cats, "-o", out, "-k", "box", "-q").exit_code == 0
    first = _folder_bytes(out / "a")

    plan = invoke("run", dogs, "-o", out, "-k", "box", "-n")
    assert f"-> {out / 'a-2'}/" in plan.stdout
    assert not (out / "a-2").exists()

    second = invoke("run", dogs, "-o", out, "-k", "box", "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["output"] == str(out / "a-2")
    assert "holds the results of another input" in second.stderr
    assert str(cats.resolve()) in second.stderr
    assert _folder_bytes(out / "a") == first  # untouched
    assert load_manifest(out / "a-2")["input"]["path"] == str(dogs)

    # each input keeps coming back to its own folder: re-runs replace, resumes skip
    again = invoke("run", cats, "-o", out, "-k", "sobel-x", "--json")
    assert json.loads(again.stdout)["output"] == str(out / "a")
    resumed = invoke("run", dogs, "-o", out, "-k", "box", "--skip-existing", "--json")
    assert json.loads(resumed.stdout)["status"] == "skipped"
    assert json.loads(resumed.stdout)["output"] == str(out / "a-2")
    assert sorted(p.name for p in out.iterdir()) == ["a", "a-2"]


def test_a_folder_being_rewritten_still_belongs_to_its_input(tmp_path):
    # between parking the old file list and the new manifest, the folder has no manifest;
    # its record of the input keeps another input out
    from cnnpipe.batch import Job, claim_folders, fingerprint
    from cnnpipe.outputs import PREVIOUS

    mine, other = tmp_path / "x" / "a.png", tmp_path / "y" / "a.png"
    for path in (mine, other):
        path.parent.mkdir()
        write_png(path, np.zeros((4, 4)))
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / PREVIOUS).write_text(json.dumps(
        {"files": ["00-input.png"], "input": fingerprint(Job(str(mine), "a"))}))
    warnings = []
    assert claim_folders([Job(str(mine), "a")], out, warnings.append) == [Job(str(mine), "a")]
    assert claim_folders([Job(str(other), "a")], out, warnings.append) == [
        Job(str(other), "a-2")]
    assert len(warnings) == 1 and str(mine.resolve()) in warnings[0]
    # a folder nobody claims (no manifest, no record) is free to use, as before
    (out / "a" / PREVIOUS).unlink()
    assert claim_folders([Job(str(other), "a")], out)[0].name == "a"


def test_a_displaced_input_never_takes_the_name_of_another_job_in_the_batch(tmp_path):
    from cnnpipe.batch import Job, claim_folders, fingerprint
    from cnnpipe.outputs import PREVIOUS

    paths = []
    for kind in ("cats", "dogs", "birds"):
        (tmp_path / kind).mkdir()
        paths.append(write_png(tmp_path / kind / "a.png", np.zeros((4, 4))))
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)  # an earlier run of cats/a.png
    (out / "a" / PREVIOUS).write_text(json.dumps(
        {"files": ["x.png"], "input": fingerprint(Job(str(paths[0]), "a"))}))
    # this batch: dogs/a.png wants `a`, birds/a.png was already named `a-2` by discovery
    jobs = claim_folders([Job(str(paths[1]), "a"), Job(str(paths[2]), "a-2")], out)
    assert [j.name for j in jobs] == ["a-3", "a-2"]


def test_a_different_standard_input_never_replaces_the_last_ones_results(invoke, tmp_path):
    # the same rule as two files of one name: the second takes stdin-2, with a warning
    for width in (3, 5):
        data = "\n".join([",".join(["1"] * width)] * 4).encode() + b"\n"
        result = invoke("run", "-", "-k", "box", "-o", tmp_path, input=data)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stdin", "stdin-2"]
    assert load_manifest(tmp_path / "stdin")["input"]["width"] == 3
    assert load_manifest(tmp_path / "stdin-2")["input"]["width"] == 5
    assert "stdin: " in result.stderr and "writing to" in result.stderr
    assert str(tmp_path / "stdin-2") in result.stderr


def test_the_same_standard_input_again_comes_back_to_its_folder(invoke, tmp_path):
    data = (SAMPLES / "tutorial.csv").read_bytes()
    for _ in range(2):
        result = invoke("run", "-", "-k", "tutorial", "-o", tmp_path, input=data)
        assert result.exit_code == 0, result.output
        assert "warning" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stdin"]


def test_name_names_the_standard_input_folder(invoke, tmp_path):
    data = (SAMPLES / "tutorial.csv").read_bytes()
    result = invoke("run", "-", "--name", "lesson 1", "-k", "tutorial", "-o", tmp_path,
                    input=data)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesson 1"]
    assert load_manifest(tmp_path / "lesson 1")["input"]["width"] == 7
    other = b"1,2\n3,4\n"  # another input into that name: never replaces it
    result = invoke("run", "-", "--name", "lesson 1", "-k", "1", "-o", tmp_path, input=other)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesson 1", "lesson 1-2"]
    assert load_manifest(tmp_path / "lesson 1")["input"]["width"] == 7


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "", "tab\there", "x\\y"])
def test_name_refuses_a_path_a_hidden_or_an_unprintable_name(invoke, tmp_path, name):
    result = invoke("run", "-", "--name", name, "-o", tmp_path / "out", input=b"1,2\n3,4\n")
    assert result.exit_code == 2, result.output
    assert "--name" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("inputs", [["{csv}"], ["-", "{csv}"]])
def test_name_without_standard_input_alone_is_a_usage_error_naming_both(invoke, tmp_path,
                                                                        inputs):
    args = [str(SAMPLES / "tutorial.csv") if a == "{csv}" else a for a in inputs]
    result = invoke("run", *args, "--name", "x", "-o", tmp_path / "out", input=b"1,2\n3,4\n")
    assert result.exit_code == 2, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert "--name" in last and " - " in last
    assert not (tmp_path / "out").exists()


def test_rerun_with_out_inside_recursive_input_does_not_process_its_own_outputs(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    (photos / "sub").mkdir()
    write_png(photos / "sub" / "b.png", np.eye(8) * 255)
    out = photos / "out"
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", out, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(m["input"]["path"] for m in lines) == sorted(
            [str(photos / "a.png"), str(photos / "sub" / "b.png")])
    assert sorted(p.name for p in out.iterdir()) == ["a", "sub"]


def test_rerun_with_out_equal_to_recursive_input_skips_output_folders(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", photos, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1
    assert sorted(p.name for p in photos.iterdir()) == ["a", "a.png"]


def test_dry_run_with_json_prints_only_json_lines(invoke, tmp_path):
    # --json promises JSON Lines and nothing else on stdout; -n printed its text plan.
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-n", "--json",
                    "-o", tmp_path / "out")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["input"]["path"] == str(SAMPLES / "tutorial.csv")
    assert records[0]["status"] == "planned"
    assert "03-pool-tutorial.png" in records[0]["files"]
    assert not (tmp_path / "out").exists()


def test_skip_existing_does_not_skip_a_different_input_with_the_same_folder_name(invoke, tmp_path):
    # a/x.png then b/x.png both write OUT/x: the second was skipped as "done".
    for folder, value in (("a", 10), ("b", 250)):
        (tmp_path / folder).mkdir()
        write_png(tmp_path / folder / "x.png", np.full((8, 8), value))
    out = tmp_path / "out"
    first = invoke("run", tmp_path / "a" / "x.png", "-o", out, "--skip-existing", "-q")
    second = invoke("run", tmp_path / "b" / "x.png", "-o", out, "--skip-existing", "--json")
    assert first.exit_code == second.exit_code == 0
    report = json.loads(second.stdout)
    assert report["status"] == "ok"
    assert report["input"]["path"] == str(tmp_path / "b" / "x.png")


def test_skip_existing_redoes_an_input_whose_file_changed(invoke, tmp_path):
    source = write_png(tmp_path / "x.png", np.full((8, 8), 10))
    out = tmp_path / "out"
    assert invoke("run", source, "-o", out, "--skip-existing", "-q").exit_code == 0
    write_png(source, np.eye(8) * 255)
    import os

    os.utime(source, ns=(1, 1))  # a different time even on coarse clocks
    result = invoke("run", source, "-o", out, "--skip-existing", "--json")
    assert json.loads(result.stdout)["status"] == "ok"
    again = invoke("run", source, "-o", out, "--skip-existing", "--json")
    assert json.loads(again.stdout)["status"] == "skipped"


def test_skip_existing_with_stdin_redoes_different_data(invoke, tmp_path):
    out = tmp_path / "out"
    a = (SAMPLES / "tutorial.csv").read_bytes()
    b = b"1,2,3\n4,5,6\n7,8,9\n"
    assert invoke("run", "-", "-o", out, "--skip-existing", "-q", input=a).exit_code == 0
    result = invoke("run", "-", "-o", out, "--skip-existing", "--json", input=b)
    assert json.loads(result.stdout)["status"] == "ok"
    assert json.loads(result.stdout)["input"]["width"] == 3


def test_an_empty_input_path_is_not_the_current_directory(invoke, tmp_path, monkeypatch):
    # `cnnpipe run "$PHOTO"` with an unset variable scanned and processed the cwd.
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "private.png", np.eye(8) * 255)
    result = invoke("run", "", "-o", tmp_path / "out", "--json", "-q")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "input path is empty" in result.stderr
    assert not (tmp_path / "out" / "private").exists()

"""`cnnpipe exercise` and `cnnpipe check`: seeded tasks and cell-by-cell grading."""

import json

import numpy as np
import pytest
from reference import ref_conv2d, ref_pool2d

from cnnpipe.teaching.exercises import make_task


def task_json(invoke, seed):
    result = invoke("exercise", "--seed", seed, "--json")
    assert result.exit_code == 0
    return json.loads(result.stdout)


def right_maps(task):
    """The three maps by slow loops, from the task as the learner sees it."""
    image = np.array(task["input"], dtype=np.float64)
    kernel = np.array(task["kernel"], dtype=np.float64)
    conv = ref_conv2d(image, kernel)
    relu = np.maximum(conv, 0)
    p = task["pool"]
    pooled = ref_pool2d(relu, window=p["window"], stride=p["stride"], mode=p["mode"],
                        edge=p["edge"])
    return {"conv": conv, "relu": relu, "pool": pooled}


def write_csv(path, array, fmt="%g"):
    np.savetxt(path, np.asarray(array), delimiter=",", fmt=fmt)
    return path


def test_the_same_seed_gives_the_same_task_from_a_pcg64_stream():
    a, b = make_task(42), make_task(42)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.kernel, b.kernel)
    assert (a.window, a.stride, a.mode) == (b.window, b.stride, b.mode)
    rng = np.random.Generator(np.random.PCG64(42))
    n = int(rng.integers(5, 7))
    np.testing.assert_array_equal(a.image, rng.integers(0, 4, size=(n, n)))


def test_tasks_are_small_integer_problems_and_seeds_differ():
    tasks = [make_task(seed) for seed in range(30)]
    for t in tasks:
        assert t.image.shape[0] in (5, 6) and t.image.shape[0] == t.image.shape[1]
        assert set(np.unique(t.image)) <= {0, 1, 2, 3}
        assert t.kernel.shape == (3, 3) and set(np.unique(t.kernel)) <= {-1, 0, 1}
        assert (t.window, t.mode in ("max", "mean"), t.stride in (1, 2)) == (2, True, True)
    assert len({t.image.tobytes() for t in tasks}) > 25
    assert {t.mode for t in tasks} == {"max", "mean"}


def test_exercise_prints_the_task_as_tables_with_the_check_commands(invoke):
    result = invoke("exercise", "--seed", "3")
    assert result.exit_code == 0
    task = make_task(3)
    assert "input" in result.stdout and "detector (3x3)" in result.stdout
    assert f"pooling: {task.mode}, window 2x2, stride {task.stride}" in result.stdout
    for stage in ("conv", "relu", "pool"):
        assert f"cnnpipe check {stage}.csv --seed 3 --stage {stage}" in result.stdout
    first_row = "   ".join(str(int(v)) for v in task.image[0])
    assert first_row in result.stdout


def test_exercise_json_matches_the_task(invoke):
    task = task_json(invoke, 9)
    made = make_task(9)
    assert task["input"] == made.image.astype(int).tolist()
    assert task["kernel"] == made.kernel.astype(int).tolist()
    assert task["pool"]["stride"] == made.stride and task["pool"]["mode"] == made.mode


@pytest.mark.parametrize("stage", ["conv", "relu", "pool"])
def test_check_accepts_the_right_answer(invoke, tmp_path, stage):
    for seed in (1, 2, 3):
        right = right_maps(task_json(invoke, seed))[stage]
        answer = write_csv(tmp_path / f"{stage}-{seed}.csv", right)
        result = invoke("check", answer, "--seed", seed, "--stage", stage)
        assert result.exit_code == 0, result.output
        assert "all correct" in result.stdout


def test_check_rejects_a_wrong_answer_and_names_the_wrong_cells(invoke, tmp_path):
    conv = right_maps(task_json(invoke, 4))["conv"]
    wrong = conv.copy()
    wrong[0, 1] += 1
    wrong[2, 0] = -wrong[2, 0] - 5
    result = invoke("check", write_csv(tmp_path / "a.csv", wrong), "--seed", 4, "--stage", "conv")
    assert result.exit_code == 1
    out = result.stdout
    assert f"row 0, col 1: you wrote {wrong[0, 1]:g}, right is {conv[0, 1]:g}" in out
    assert f"row 2, col 0: you wrote {wrong[2, 0]:g}, right is {conv[2, 0]:g}" in out
    assert f"{conv.size - 2}/{conv.size} cells right" in out
    assert f"✗ {wrong[0, 1]:g} → {conv[0, 1]:g}" in out


def test_check_accepts_means_rounded_to_two_decimals(invoke, tmp_path):
    seed = next(s for s in range(100) if make_task(s).mode == "mean"
                and not np.all(right_maps(task_json(invoke, s))["pool"] % 1 == 0))
    pooled = right_maps(task_json(invoke, seed))["pool"]
    answer = write_csv(tmp_path / "p.csv", pooled, fmt="%.2f")
    assert invoke("check", answer, "--seed", seed, "--stage", "pool").exit_code == 0
    off = write_csv(tmp_path / "q.csv", pooled + 0.1, fmt="%.2f")
    assert invoke("check", off, "--seed", seed, "--stage", "pool").exit_code == 1


def test_check_names_both_shapes_on_a_mismatch(invoke, tmp_path):
    relu = right_maps(task_json(invoke, 5))["relu"]
    answer = write_csv(tmp_path / "a.csv", relu[:-1])
    result = invoke("check", answer, "--seed", 5, "--stage", "relu")
    assert result.exit_code == 1
    got = f"{relu.shape[0] - 1}x{relu.shape[1]}"
    want = f"{relu.shape[0]}x{relu.shape[1]}"
    assert result.stderr.count("\n") == 1
    assert f"answer is {got}" in result.stderr and f"is {want}" in result.stderr


def test_check_needs_seed_and_stage_and_a_readable_file(invoke, tmp_path):
    answer = write_csv(tmp_path / "a.csv", [[1, 2], [3, 4]])
    assert invoke("check", answer, "--stage", "conv").exit_code == 2
    assert invoke("check", answer, "--seed", 1, "--stage", "softmax").exit_code == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\nthree,4\n")
    result = invoke("check", bad, "--seed", 1, "--stage", "conv")
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and result.stderr.count("\n") == 1


def test_check_reads_the_answer_from_standard_input(invoke, tmp_path):
    pool = right_maps(task_json(invoke, 5))["pool"]
    text = "\n".join(",".join(f"{v:g}" for v in row) for row in pool) + "\n"
    result = invoke("check", "-", "--seed", 5, "--stage", "pool", input=text)
    assert result.exit_code == 0, result.output
    wrong = text.replace(f"{pool[0, 0]:g}", f"{pool[0, 0] + 1:g}", 1)
    result = invoke("check", "-", "--seed", 5, "--stage", "pool", input=wrong)
    assert result.exit_code == 1
    assert "row 0, col 0" in result.stdout

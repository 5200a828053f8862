"""Each command has one subcommand per task, with the task's own options under its own help."""

import pytest
from cli_runner import run

from astrocnn.tasks.registry import get_task, task_names

COMMANDS = ("simulate", "train", "predict", "evaluate")


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_lists_every_task(command):
    out = run(command, "--help").output
    assert "Tasks:" in out
    for name in task_names():
        assert name in out and get_task(name).summary[:30] in " ".join(out.split())


def test_train_paint_help_shows_paint_options_not_photoz():
    out = run("train", "paint", "--help").output
    assert "Options of paint" in out
    for flag in ("--power-loss-weight", "--power-loss-space", "--log-offset"):
        assert flag in out
    for flag in ("--mdn-components", "--extra-inputs", "--classes", "--fraction-columns"):
        assert flag not in out
    assert "--epochs" in out  # the options every task shares are still there


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", task_names())
def test_every_declared_option_is_offered_only_where_declared(command, name):
    out = run(command, name, "--help").output
    mine = {o.flag for o in get_task(name).options_for(command)}
    others = {
        o.flag
        for other in task_names()
        if other != name
        for o in get_task(other).options_for(command)
    } - mine
    assert all(flag in out for flag in mine)
    assert not any(flag in out.split() for flag in others)


def test_another_tasks_option_is_named_as_such():
    result = run("predict", "lens", "--catalog", "c.fits", "--out", "o.fits", "--pdf-grid",
                 "0,3,10", ok=False)  # fmt: skip
    assert result.exit_code == 2
    assert "astrocnn: error: --pdf-grid does not apply to task 'lens' (an option of photoz)" in (
        result.output
    )


def test_unknown_task_is_refused():
    result = run("train", "quasar", "--help", ok=False)
    assert result.exit_code != 0 and "quasar" in result.output


def test_pretrain_help_lists_only_tasks_with_a_backbone():
    out = run("pretrain", "--help").output
    tasks = out.split("Tasks:")[1]
    assert all(name in tasks for name in ("lens", "morphology", "photoz"))
    assert "deblend" not in tasks and "paint" not in tasks
    # named anyway: the command's own one-line reason, not click's usage error
    refused = run("pretrain", "paint", "--catalog", "x.fits", "--out", "y.keras", ok=False)
    assert "astrocnn: error: task 'paint'" in refused.output

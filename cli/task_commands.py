"""Commands with one subcommand per registered task, built from the tasks' own options.

``astrocnn train --help`` lists the tasks; ``astrocnn train paint --help``
lists the options every task shares and, under their own heading, the
options only paint declares (:class:`~astrocnn.tasks.base.TaskOption`). A
new task never edits this layer: its options come from the registry.
"""

from __future__ import annotations

import click

from astrocnn.errors import AstrocnnError
from astrocnn.tasks.registry import get_task, task_names


def params_of(*decorators) -> list:
    """The click parameters that ``decorators`` (``click.option(...)``, ...) would add,
    in the order they are written."""

    def holder():
        pass

    for decorator in reversed(decorators):
        holder = decorator(holder)
    return list(reversed(holder.__click_params__))


def _click_type(option):
    if isinstance(option.type, tuple):
        return click.Choice(option.type)
    if option.type is int and (option.minimum is not None or option.maximum is not None):
        return click.IntRange(option.minimum, option.maximum)
    if option.type is float and (option.minimum is not None or option.maximum is not None):
        return click.FloatRange(option.minimum, option.maximum, min_open=option.minimum_open)
    return option.type


def click_option(option) -> click.Option:
    """The click option of a :class:`~astrocnn.tasks.base.TaskOption`."""
    if option.type is bool:
        return click.Option([option.flag, option.name], is_flag=True, help=option.help)
    return click.Option(
        [option.flag, option.name],
        type=_click_type(option),
        default=option.default,
        metavar=option.metavar,
        show_default=option.default is not None,
        help=option.help,
    )


def task_values(task, command: str, given: dict) -> dict:
    """Pop the task's own options of ``command`` from ``given``; parse the ones given."""
    values = {}
    for option in task.options_for(command):
        value = given.pop(option.name)
        if value is None:
            continue
        if option.parse is not None:
            try:
                value = option.parse(value)
            except ValueError as exc:
                raise AstrocnnError(f"{option.flag}: {exc}") from None
        values[option.name] = value
    return values


def _declared_elsewhere(command: str, flag: str, task_name: str) -> list[str]:
    owners = []
    for name in task_names():
        if name != task_name and any(o.flag == flag for o in get_task(name).options_for(command)):
            owners.append(name)
    return owners


class TaskCommand(click.Command):
    """One task's subcommand: the shared options, then the task's own under a heading."""

    def __init__(self, *args, task_name: str, command: str, n_task_params: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_name = task_name
        self.command = command
        self.n_task_params = n_task_params

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            owners = _declared_elsewhere(self.command, exc.option_name, self.task_name)
            if not owners:
                raise
            click.echo(
                f"astrocnn: error: {exc.option_name} does not apply to task "
                f"{self.task_name!r} (an option of {', '.join(owners)})",
                err=True,
            )
            ctx.exit(2)
        except click.BadParameter as exc:  # e.g. a value outside an option's choices
            click.echo(f"astrocnn: error: {exc.format_message()}", err=True)
            ctx.exit(2)

    def format_options(self, ctx, formatter):
        records = [p.get_help_record(ctx) for p in self.get_params(ctx)]
        split = len(self.params) - self.n_task_params
        common = [r for r in records[:split] if r] + [r for r in records[len(self.params) :] if r]
        own = [r for r in records[split : len(self.params)] if r]
        with formatter.section("Options"):
            formatter.write_dl(common)
        if own:
            with formatter.section(f"Options of {self.task_name}"):
                formatter.write_dl(own)


class TaskGroup(click.Group):
    """A command whose subcommands are the registered tasks.

    Parameters
    ----------
    build : callable
        ``build(task_name) -> click.Command`` (see :func:`task_command`).
    """

    def __init__(self, *args, build, listed=None, **kwargs):
        kwargs.setdefault("subcommand_metavar", "TASK [ARGS]...")
        super().__init__(*args, **kwargs)
        self.build = build
        # tasks the command does not apply to are not listed, but still answer
        # (with the command's own one-line reason) when named
        self.listed = listed or (lambda task: True)

    def format_commands(self, ctx, formatter):
        rows = [(name, get_task(name).summary) for name in self.list_commands(ctx)]
        with formatter.section("Tasks"):
            formatter.write_dl(rows)

    def list_commands(self, ctx):
        return [name for name in task_names() if self.listed(get_task(name))]

    def get_command(self, ctx, name):
        return self.build(name) if name in task_names() else None


def task_command(
    command: str, name: str, params: list, run, help_text: str, wrap=lambda f: f
) -> TaskCommand:
    """The subcommand ``astrocnn COMMAND NAME``.

    Parameters
    ----------
    command : str
        ``simulate``, ``train``, ``predict`` or ``evaluate``.
    name : str
        The task.
    params : list of click.Parameter
        The options every task shares.
    run : callable
        ``run(task, own, **shared)``: ``own`` holds the task's own option values
        (parsed, only those given), ``shared`` the shared options.
    help_text : str
        The command's help (``TASK`` in it becomes the task's name).
    wrap : callable
        Decorates the whole callback, option parsing included (error reporting).
    """
    task = get_task(name)
    own = [click_option(option) for option in task.options_for(command)]

    @wrap
    def callback(**given):
        return run(task, task_values(task, command, given), **given)

    return TaskCommand(
        name,
        params=[*params, *own],
        callback=callback,
        help=help_text.replace("TASK", name),
        short_help=task.summary,
        task_name=name,
        command=command,
        n_task_params=len(own),
    )

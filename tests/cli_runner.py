"""Run the real click CLI in-process and check it never shows a traceback."""

from click.testing import CliRunner

from astrocnn_cli.main import main


def run(*args, ok=True):
    """Invoke ``astrocnn ARGS``; with ``ok`` require exit code 0."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + str(result.exception)
    assert "Traceback" not in result.output
    return result

"""``astrocnn info --system``: one line per field, without a model."""

from cli_runner import run

FIELDS = ("TensorFlow", "Keras", "CPU", "devices", "oneDNN", "threads", "mixed precision", "XLA")


def _fields(output):
    return dict(line.split(":", 1) for line in output.splitlines() if ":" in line)


def test_system_report_has_every_field_on_one_line():
    fields = _fields(run("info", "--system").output)
    for name in FIELDS:
        assert fields.get(name, "").strip(), name
    import keras
    import tensorflow as tf

    assert fields["TensorFlow"].split()[0] == tf.__version__
    assert fields["Keras"].split()[0] == keras.__version__
    assert "TF_ENABLE_ONEDNN_OPTS=" in fields["oneDNN"]
    assert fields["oneDNN"].split()[0] in ("on", "off", "unknown")
    assert "CPU:0" in fields["devices"]
    assert "intra-op" in fields["threads"] and "inter-op" in fields["threads"]
    assert "float32" in fields["mixed precision"]
    assert fields["XLA"].split()[0] in ("available", "not")


def test_info_needs_a_model_or_system():
    result = run("info", ok=False)
    assert result.exit_code == 1 and result.output.startswith("astrocnn: error:")
    assert "--system" in result.output and len(result.output.strip().splitlines()) == 1


def test_system_and_a_model_card_together():
    output = run("info", "lens", "--system").output
    assert output.startswith("astrocnn:") and "lens" in output.split("XLA:", 1)[1]

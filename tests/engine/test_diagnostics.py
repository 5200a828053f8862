"""Out-of-distribution flags and the summary warning that names their cause."""

import numpy as np

from astrocnn.engine.diagnostics import (
    OOD_FLAGS,
    RowDiagnostics,
    flag_names,
    noise_ratio,
    ood_flags,
    summary_warning,
    table_warning,
)
from astrocnn.io.conversion import ModelContract

N, BANDS = 200, 3
MODEL_NOISE = (2.0, 2.0, 4.0)
MODEL_SIGNAL = (50.0, 60.0, 80.0)
MODEL = ModelContract(("g", "r", "i"), 0.2, (30.0,) * 3, MODEL_NOISE, MODEL_SIGNAL, 40.0)


def _rows(noise_scale=1.0, signal_scale=1.0, background=0.0, masked=0.0, size=1.0, seed=0):
    rng = np.random.default_rng(seed)
    noise = np.array(MODEL_NOISE, np.float32) * noise_scale * rng.normal(1, 0.03, (N, BANDS))
    signal = np.array(MODEL_SIGNAL, np.float32) * signal_scale * rng.lognormal(0, 0.5, (N, BANDS))
    return RowDiagnostics(
        noise=noise.astype(np.float32),
        background=np.full((N, BANDS), background, np.float32) * noise,
        masked_fraction=np.full(N, masked, np.float32),
        n_missing_bands=np.zeros(N, np.int64),
        signal=signal.astype(np.float32),
        added_noise=np.zeros((N, BANDS), np.float32),
        core_area=(40.0 * size**2 * rng.lognormal(0, 0.5, N)).astype(np.float32),
    )


def _run(diag):
    ratio = noise_ratio(diag.noise, MODEL_NOISE)
    flags = ood_flags(diag, ratio)
    return flags, summary_warning(flags, ratio, diag, np.ones(N, bool), MODEL)


def test_training_set_up_is_not_flagged():
    flags, warning = _run(_rows())
    assert np.mean(flags != 0) <= 0.01 and warning is None


def test_deeper_images_point_to_match_depth():
    flags, warning = _run(_rows(noise_scale=0.1))
    assert np.all(flags & OOD_FLAGS["NOISE_LOW"])
    assert "10x deeper than the training data" in warning and "--match-depth" in warning


def test_a_flux_scale_error_is_told_from_a_depth_change():
    flags, warning = _run(_rows(noise_scale=3.63, signal_scale=3.63))
    assert np.all(flags & OOD_FLAGS["NOISE_HIGH"])
    assert "the flux scale differs (zero point / unit)" in warning and "--zero-point" in warning
    _, shallower = _run(_rows(noise_scale=3.63))
    assert "noisier than the training data" in shallower


def test_a_pixel_scale_difference_is_named_as_such():
    flags, warning = _run(_rows(noise_scale=0.8, signal_scale=0.64, size=1.25))
    assert np.mean(flags & OOD_FLAGS["NOISE_LOW"] != 0) > 0.9
    assert "x larger in pixels" in warning and "--pixel-scale" in warning


def test_sky_left_in_and_masked_pixels():
    flags, warning = _run(_rows(background=5.0))
    assert np.all(flags & OOD_FLAGS["BACKGROUND"]) and "sky level left" in warning
    flags, _ = _run(_rows(masked=0.2))
    assert flag_names(int(flags[0])) == ["MASKED"]


def test_a_display_image_is_named_before_its_other_symptoms():
    diag = _rows(noise_scale=6.0, background=5.0, size=3.0)
    diag.display = np.ones(N, bool)
    flags, warning = _run(diag)
    assert np.all(flags & OOD_FLAGS["DISPLAY"]) and "a display image" in warning


def test_a_written_table_gets_the_same_warning_without_telling_causes_apart():
    from astropy.table import Table

    diag = _rows(noise_scale=0.1)
    ratio = noise_ratio(diag.noise, MODEL_NOISE)
    table = Table({"status": ["ok"] * N, "noise_ratio": ratio, "ood_flags": ood_flags(diag, ratio)})
    warning = table_warning(table, MODEL)
    assert warning.startswith(f"{N} of {N} rows have background noise 0.1x")
    assert "no source measurements to tell which" in warning


def test_a_table_without_readable_noise_ratios_still_gets_a_warning():
    from astropy.table import Table

    flags = np.full(N, OOD_FLAGS["NOISE_LOW"])
    warning = table_warning(Table({"status": ["ok"] * N, "ood_flags": flags}), MODEL)
    assert (
        warning == f"{N} of {N} rows have background noise lower than the training data's: "
        "see noise_ratio"
    )

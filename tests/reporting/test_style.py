"""Saving figures: every format, 300 dpi; the palette."""

from __future__ import annotations

import pytest
from PIL import Image

import cohortcalc as cc
from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.figures import plot_survival
from cohortcalc.reporting.style import OKABE_ITO, palette, save_figure


def test_palette_is_okabe_ito_and_ordered_for_four_groups():
    assert palette(4) == [OKABE_ITO[k] for k in ("blue", "bluish_green", "orange", "vermillion")]
    assert palette(2) == [OKABE_ITO["blue"], OKABE_ITO["vermillion"]]
    with pytest.raises(CohortcalcError, match="palette"):
        palette(9)


def test_save_figure_writes_every_format_at_300_dpi(cohort, tmp_path):
    km_by_cac = cc.kaplan_meier(cohort, time="mi_years", event="death_status", by="cac_category")
    paths = save_figure(plot_survival(km_by_cac), tmp_path / "km")
    assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
    with Image.open(paths[0]) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.1)
        assert image.size[0] > 3 * 300  # about a journal column wide at 300 dpi
    assert paths[1].read_bytes().startswith(b"%PDF")
    assert "<svg" in paths[2].read_text()
    with pytest.raises(CohortcalcError, match="unsupported"):
        save_figure(plot_survival(km_by_cac), tmp_path / "km.jpg")


def test_tiff_at_600_dpi_and_fonts_embedded_in_the_vectors(cohort, tmp_path):
    km_by_cac = cc.kaplan_meier(cohort, time="mi_years", event="death_status", by="cac_category")
    figure = plot_survival(km_by_cac, width="double")
    assert figure.get_size_inches()[0] == pytest.approx(7.0)
    tiff, pdf, svg = save_figure(figure, tmp_path / "km", ("tiff", "pdf", "svg"), dpi=600)
    with Image.open(tiff) as image:
        assert image.format == "TIFF" and image.info["dpi"] == pytest.approx((600, 600), abs=0.1)
        assert image.info.get("compression") == "tiff_lzw"
    content = pdf.read_bytes()
    assert b"/FontFile2" in content and b"/Type3" not in content  # TrueType, embedded
    text = svg.read_text()
    assert "<text" not in text and "<path" in text  # glyphs as outlines: nothing to install
    with pytest.raises(CohortcalcError, match="width"):
        plot_survival(km_by_cac, width="triple")

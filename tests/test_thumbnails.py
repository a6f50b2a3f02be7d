"""A large map on the sheet is reduced by averaging colours over areas, in two steps
(whole blocks first, then the rest): the picture keeps its geometry and colours."""

from __future__ import annotations

import numpy as np
import pytest

from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.thumbnails import SheetScale, thumbnail


@pytest.mark.parametrize("side", [2046, 1023, 641])
def test_halves_keep_their_colours_and_the_edge_stays_in_place(side):
    index = np.zeros((side, side), np.uint8)
    edge = side * 3 // 10  # left 30% index 0, the rest index 255
    index[:, edge:] = 255
    palette = lut("vik")
    scale = SheetScale.for_input(2048, 2048, 320)
    th, tw = scale.size_of(side, side)
    picture = thumbnail(index, scale, palette)
    assert picture.shape == (th, tw, 3)
    column = edge * tw / side  # where the edge falls on the thumbnail
    left, right = int(column) - 1, int(column) + 2
    assert (picture[:, :left] == palette[0]).all()
    assert (picture[:, right:] == palette[255]).all()
    between = picture[:, left:right].astype(int)  # mixed colours only at the edge
    assert ((between >= np.minimum(palette[0], palette[255])) &
            (between <= np.maximum(palette[0], palette[255]))).all()


def test_a_fine_pattern_becomes_the_average_of_its_colours():
    index = (np.indices((2046, 2046)).sum(axis=0) % 2 * 255).astype(np.uint8)
    palette = np.zeros((256, 3), np.uint8)
    palette[255] = (200, 100, 0)
    picture = thumbnail(index, SheetScale.for_input(2048, 2048, 320), palette).astype(int)
    assert np.abs(picture - np.array([100, 50, 0])).max() <= 2

"""book.plots: the image mosaic, the choice of examples per class, and the class grid drawn from them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from book.plots import examples_per_class, image_mosaic, show_class_grid, show_images  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def numbered_images(n, h=3, w=4):
    """Image k is filled with the value k + 1, so every tile can be recognised in a mosaic."""
    return torch.arange(1, n + 1, dtype=torch.float32)[:, None, None].expand(n, h, w).clone()


def test_mosaic_places_each_image_row_by_row_with_gaps_and_empty_tiles_filled():
    images = numbered_images(5)  # 2 rows of 3: the last row has one empty tile
    out = image_mosaic(images, ncols=3, pad=1, pad_value=-1.0)
    assert out.shape == (2 * (3 + 1) - 1, 3 * (4 + 1) - 1)
    for k in range(5):
        top, left = (k // 3) * 4, (k % 3) * 5
        assert torch.equal(out[top:top + 3, left:left + 4], images[k])
    assert torch.all(out[3, :] == -1.0)  # the gap between the rows
    assert torch.all(out[:, 4] == -1.0)  # the gap between the first two columns
    assert torch.all(out[4:, 10:] == -1.0)  # the sixth tile is empty
    # every pixel is either a tile's value or the padding
    assert torch.isin(out, torch.tensor([-1.0, 1, 2, 3, 4, 5])).all()


def test_mosaic_accepts_a_channel_dimension_and_bytes():
    images = torch.randint(0, 256, (4, 1, 5, 5), dtype=torch.uint8)
    out = image_mosaic(images, ncols=4, pad=0)
    assert out.dtype == torch.float32 and out.shape == (5, 20)
    assert torch.equal(out[:, 5:10], images[1, 0].float())


@pytest.mark.parametrize("kwargs, message", [
    ({"ncols": 0}, "ncols must be a positive whole number"),
    ({"ncols": 2.5}, "ncols must be a positive whole number"),
    ({"ncols": 2, "pad": -1}, "pad must be a whole number"),
])
def test_mosaic_rejects_bad_layout(kwargs, message):
    with pytest.raises(ValueError, match=message):
        image_mosaic(numbered_images(3), **kwargs)


@pytest.mark.parametrize("images, error, message", [
    (torch.zeros(3, 3, 5, 5), ValueError, r"greyscale images \(N, 1, H, W\)"),
    (torch.zeros(5, 5), ValueError, r"\(N, H, W\) or \(N, 1, H, W\)"),
    (torch.zeros(0, 5, 5), ValueError, "no images"),
    ([[0.0]], TypeError, "expected a tensor"),
])
def test_mosaic_rejects_what_is_not_a_stack_of_greyscale_images(images, error, message):
    with pytest.raises(error, match=message):
        image_mosaic(images, ncols=2)


LABELS = torch.tensor([2, 0, 1, 0, 2, 1, 0, 2, 1, 1, 0, 2])


def test_examples_per_class_without_seed_are_the_first_of_each_class_in_order():
    chosen = examples_per_class(LABELS, num_classes=3, per_class=3)
    assert chosen.tolist() == [[1, 3, 6], [2, 5, 8], [0, 4, 7]]


def test_examples_per_class_with_a_seed_are_repeatable_distinct_and_of_their_class():
    a = examples_per_class(LABELS, 3, 3, seed=7)
    assert torch.equal(a, examples_per_class(LABELS, 3, 3, seed=7))
    for c, row in enumerate(a):
        assert (LABELS[row] == c).all()
        assert len(set(row.tolist())) == 3
    draws = {tuple(examples_per_class(LABELS, 3, 3, seed=s).flatten().tolist()) for s in range(20)}
    assert len(draws) > 1  # the seed matters


@pytest.mark.parametrize("labels, num_classes, per_class, message", [
    (LABELS, 3, 5, "class 0 has 4 examples, fewer than per_class=5"),
    (LABELS, 2, 1, r"labels must lie in 0..1, found 0..2"),
    (torch.tensor([-1, 0]), 2, 1, "labels must lie in 0..1"),
    (LABELS.float(), 3, 1, "integer class indices"),
    (LABELS[None], 3, 1, "1-D tensor"),
    ([0, 1, 2], 3, 1, "labels must be a 1-D tensor"),
    (LABELS, 3, 0, "per_class must be a positive whole number"),
    (LABELS, 0, 1, "num_classes must be a positive whole number"),
])
def test_examples_per_class_says_what_is_wrong(labels, num_classes, per_class, message):
    with pytest.raises(ValueError, match=message):
        examples_per_class(labels, num_classes, per_class)


def test_class_grid_draws_one_image_one_row_per_class_named_at_the_left():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (len(LABELS), 1, 6, 6), dtype=torch.uint8)
    fig = show_class_grid(images, LABELS, ["a", "b", "c"], per_class=2, seed=3, title="grid")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    (shown,) = ax.get_images()
    chosen = examples_per_class(LABELS, 3, 2, seed=3)
    expected = image_mosaic(images[chosen.flatten()], ncols=2, pad=2, pad_value=0.12 * 255)
    assert torch.equal(torch.as_tensor(shown.get_array().data), expected)
    assert shown.get_clim() == (0.0, 255.0)  # bytes on their fixed scale, whatever the examples hold
    assert ax.get_title() == "grid"


def test_class_grid_rejects_mismatched_images_and_labels():
    with pytest.raises(ValueError, match="5 images but 12 labels"):
        show_class_grid(torch.zeros(5, 4, 4), LABELS, ["a", "b", "c"], per_class=1)


def test_show_images_still_checks_its_titles_and_shapes():
    with pytest.raises(ValueError, match="3 images but 2 titles"):
        show_images(torch.zeros(3, 4, 4), ["x", "y"])
    with pytest.raises(ValueError, match="greyscale"):
        show_images(torch.zeros(3, 3, 4, 4))
    fig = show_images(torch.zeros(3, 1, 4, 4), ["x", "y", "z"], ncols=2)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["x", "y", "z"]

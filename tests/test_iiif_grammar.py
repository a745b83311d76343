"""The IIIF Image API's request grammar, as a table: what each form asks of a 1000 x 600 image."""

from __future__ import annotations

import pytest

from app.delivery.iiif import IIIFError, Limits, parse, parse_region, parse_rotation, parse_size

W, H = 1000, 600
LIMITS = Limits(max_width=5000, max_height=5000, max_area=4_000_000)


@pytest.mark.parametrize(
    ("text", "box"),
    [
        ("full", (0, 0, 1000, 600)),
        ("square", (200, 0, 600, 600)),
        ("0,0,10,20", (0, 0, 10, 20)),
        ("990,590,100,100", (990, 590, 10, 10)),  # clipped to the image
        ("pct:10,10,50,50", (100, 60, 500, 300)),
        ("pct:0,0,100,100", (0, 0, 1000, 600)),
        ("pct:.5,0,99.5,100", (5, 0, 995, 600)),
    ],
)
def test_regions(text, box):
    assert parse_region(text, W, H) == box


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Full",
        "0,0,10",
        "0,0,0,10",  # no area
        "0,0,10,0",
        "1000,0,10,10",  # outside
        "0,600,10,10",
        "-1,0,10,10",
        "+1,0,10,10",
        " 1,0,10,10",
        "1.5,0,10,10",  # pixels are whole
        "pct:100,0,10,10",
        "pct:0,0,0,10",
        "pct:a,0,10,10",
        "\uff11,0,10,10",  # a full-width 1 is no ASCII digit
        "pct:1e2,0,10,10",
    ],
)
def test_bad_regions_are_400_naming_the_region(text):
    with pytest.raises(IIIFError) as caught:
        parse_region(text, W, H)
    assert (caught.value.status, caught.value.part) == (400, "region")


@pytest.mark.parametrize(
    ("version", "text", "size"),
    [
        (3, "max", (1000, 600)),
        (3, "500,", (500, 300)),
        (3, ",300", (500, 300)),
        (3, "500,100", (500, 100)),
        (3, "!500,500", (500, 300)),
        (3, "!100,300", (100, 60)),
        (3, "pct:50", (500, 300)),
        (3, "^1500,", (1500, 900)),
        (3, "^,1200", (2000, 1200)),
        (3, "^pct:150", (1500, 900)),
        (3, "^!2000,2000", (2000, 1200)),
        (3, "^max", (2581, 1549)),  # maxArea 4,000,000 at the region's aspect
        (3, "^1000,600", (1000, 600)),
        (2, "full", (1000, 600)),
        (2, "max", (1000, 600)),
        (2, "1500,", (1500, 900)),  # 2.1 upscales when asked
        (2, "!2000,2000", (2000, 1200)),
    ],
)
def test_sizes(version, text, size):
    assert parse_size(version, text, W, H, LIMITS) == size


def test_max_keeps_within_the_limits():
    small = Limits(max_width=500, max_height=5000, max_area=10**9)
    assert parse_size(3, "max", W, H, small) == (500, 300)
    assert parse_size(2, "full", W, H, small) == (500, 300)


@pytest.mark.parametrize(
    ("version", "text"),
    [
        (3, "full"),  # not 3.0 grammar
        (3, "1001,"),  # larger than the region without ^
        (3, ",601"),
        (3, "pct:101"),
        (3, "1000,601"),
        (3, "!2000,3000"),
        (3, "0,"),
        (3, ",0"),
        (3, "pct:0"),
        (3, ","),
        (3, "!500,"),
        (3, "!,500"),
        (3, "^6000,"),  # past maxWidth
        (3, "^3000,3000"),  # past maxArea
        (3, "^^500,"),
        (2, "^500,"),  # no ^ in 2.1
        (3, "500.5,"),
        (3, "-500,"),
        (3, "pct:-5"),
        (3, "\u0665\u0660\u0660,"),  # Arabic-Indic digits
    ],
)
def test_bad_sizes_are_400_naming_the_size(version, text):
    with pytest.raises(IIIFError) as caught:
        parse_size(version, text, W, H, LIMITS)
    assert (caught.value.status, caught.value.part) == (400, "size")


@pytest.mark.parametrize(
    ("text", "turn"),
    [("0", (False, 0)), ("90", (False, 90)), ("22.5", (False, 22.5)), ("!0", (True, 0)),
     ("!180", (True, 180)), ("360", (False, 0)), ("359.9", (False, 359.9))],
)  # fmt: skip
def test_rotations(text, turn):
    assert parse_rotation(text) == turn


@pytest.mark.parametrize("text", ["", "-90", "361", "!!90", "90!", "ninety", "1e2", "+90"])
def test_bad_rotations_are_400_naming_the_rotation(text):
    with pytest.raises(IIIFError) as caught:
        parse_rotation(text)
    assert (caught.value.status, caught.value.part) == (400, "rotation")


@pytest.mark.parametrize(
    ("text", "status", "part"),
    [
        ("default", 400, "format"),
        ("default.", 400, "format"),
        ("default.jpeg", 400, "format"),
        ("default.exe", 400, "format"),
        ("grey.jpg", 400, "quality"),
        ("native.jpg", 400, "quality"),
        (".jpg", 400, "quality"),
        ("default.tif", 501, "format"),
        ("default.gif", 501, "format"),
        ("default.pdf", 501, "format"),
        ("default.jp2", 501, "format"),
    ],
)
def test_bad_qualities_and_formats(text, status, part):
    with pytest.raises(IIIFError) as caught:
        parse(3, "full", "max", "0", text, W, H, LIMITS)
    assert (caught.value.status, caught.value.part) == (status, part)


def test_a_whole_request():
    found = parse(3, "pct:50,50,50,50", "!100,100", "!90", "gray.png", W, H, LIMITS)
    assert found.region == (500, 300, 500, 300)
    assert found.size == (100, 60)
    assert (found.mirror, found.rotation, found.quality, found.format) == (
        True,
        90,
        "gray",
        "png",
    )
    assert found.media_type == "image/png"


HUGE = "9" * 400  # (past what a float holds; int() of 4,301 digits and more refuses itself)


@pytest.mark.parametrize(
    ("region", "size", "rotation", "part"),
    [
        (f"0,0,{HUGE},10", "max", "0", "region"),
        (f"{HUGE},0,10,10", "max", "0", "region"),
        (f"pct:0,0,{HUGE},10", "max", "0", "region"),
        (f"pct:{HUGE}.5,0,10,10", "max", "0", "region"),
        ("full", f"{HUGE},", "0", "size"),
        ("full", f",{HUGE}", "0", "size"),
        ("full", f"!{HUGE},10", "0", "size"),
        ("full", f"^!10,{HUGE}", "0", "size"),
        ("full", f"pct:{HUGE}", "0", "size"),
        ("full", f"^pct:{HUGE}", "0", "size"),
        ("full", f"^{'9' * 5000},", "0", "size"),
        ("full", "max", HUGE, "rotation"),
        ("full", "max", f"!{HUGE}.0", "rotation"),
        ("full", "1" + "0" * 15 + ",", "0", "size"),  # (16 digits)
    ],
)
def test_numbers_of_too_many_digits_are_400_naming_the_part(region, size, rotation, part):
    with pytest.raises(IIIFError) as caught:
        parse(3, region, size, rotation, "default.jpg", W, H, LIMITS)
    assert (caught.value.status, caught.value.part) == (400, part)
    assert "digits" in caught.value.message


def test_leading_zeros_and_long_fractions_are_ordinary_numbers():
    assert parse_region("0" * 40 + "1,0,10,10", W, H) == (1, 0, 10, 10)
    assert parse_size(3, "pct:50." + "0" * 400, W, H, LIMITS) == (500, 300)
    assert parse_rotation("90." + "0" * 400) == (False, 90)
    # 15 digits are a number (too large for this server, which says so).
    with pytest.raises(IIIFError, match="larger than"):
        parse_size(3, "^" + "9" * 15 + ",", W, H, LIMITS)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("2000,", "ask for ^2000,"),  # (within the limits: ^ makes it)
        ("!2000,2000", "ask for ^!2000,2000"),
        ("20000,", "the largest this server makes of it is ^2581,1549"),  # (past maxArea)
        ("!20000,20000", "the largest this server makes of it is ^2581,1549"),
    ],
)
def test_a_size_larger_than_the_region_says_what_to_ask_for_instead(text, hint):
    with pytest.raises(IIIFError) as caught:
        parse_size(3, text, W, H, LIMITS)
    assert hint in caught.value.message
    asked = hint.rsplit(" ", 1)[1]
    w, h = parse_size(3, asked, W, H, LIMITS)  # (what it names is made)
    assert w * h <= LIMITS.max_area


def test_a_size_past_the_limits_names_the_largest_of_the_region():
    with pytest.raises(IIIFError) as caught:
        parse_size(2, "20000,", W, H, LIMITS)
    assert "the largest of this region is 2581,1549" in caught.value.message
    assert parse_size(2, "2581,1549", W, H, LIMITS) == (2581, 1549)

"""Every supported encoding decodes to the same RGB pixels; every malformed header is named."""

import cv2
import numpy as np
import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from sensor_msgs.msg import CompressedImage, Image

from ausm_ros.image_conversion import (
    ImageError,
    check_compressed,
    compressed_size,
    compressed_to_rgb,
    image_to_rgb,
    mask_from_image,
)

pytestmark = pytest.mark.ros

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


def make(pixels, encoding, pad=0, bigendian=False):
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1).view(np.uint8) if pixels.dtype != np.uint8 else pixels.reshape(h, -1)
    if bigendian:
        rows = pixels.astype(">u2").reshape(h, -1).view(np.uint8)
    padded = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    return Image(
        height=h, width=w, encoding=encoding, step=padded.shape[1], is_bigendian=int(bigendian), data=padded.tobytes()
    )


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_give_rgb(pad):
    alpha = np.full((5, 7, 1), 9, np.uint8)
    cases = {
        "rgb8": RGB,
        "bgr8": RGB[..., ::-1],
        "rgba8": np.concatenate([RGB, alpha], 2),
        "bgra8": np.concatenate([RGB[..., ::-1], alpha], 2),
    }
    for encoding, pixels in cases.items():
        np.testing.assert_array_equal(
            image_to_rgb(make(np.ascontiguousarray(pixels), encoding, pad)), RGB, err_msg=encoding
        )


def test_mono_encodings_are_grey_rgb():
    mono = RGB[..., 0]
    out = image_to_rgb(make(np.ascontiguousarray(mono), "mono8"))
    assert out.shape == (5, 7, 3) and (out == mono[..., None]).all()
    depth = RNG.integers(1000, 5000, (5, 7)).astype(np.uint16)
    for bigendian in (False, True):
        out = image_to_rgb(make(depth, "mono16", bigendian=bigendian))
        assert out[..., 0][depth == depth.min()].max() == 0 and out[..., 0][depth == depth.max()].min() == 255
        assert np.array_equal(
            np.argsort(out[..., 0].ravel(), kind="stable"),
            np.argsort(
                ((depth - depth.min()) * (255.0 / (depth.max() - depth.min()))).astype(np.uint8).ravel(), kind="stable"
            ),
        )


@pytest.mark.parametrize("ext,fmt", [(".png", "png"), (".jpg", "jpeg"), (".png", "rgb8; png compressed bgr8")])
def test_compressed(ext, fmt):
    yy, xx = np.mgrid[0:16, 0:24]
    smooth = np.stack([xx * 10, yy * 15, 255 - xx * 10], axis=2).astype(np.uint8)  # jpeg-friendly
    ok, data = cv2.imencode(ext, smooth[..., ::-1])
    out = compressed_to_rgb(CompressedImage(format=fmt, data=data.tobytes()))
    if ext == ".png":
        np.testing.assert_array_equal(out, smooth)
    else:
        assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth).mean() < 8


@pytest.mark.parametrize(
    "msg,reason",
    [
        (Image(height=2, width=2, encoding="yuv422", step=4, data=b"\0" * 8), "unsupported encoding 'yuv422'"),
        (Image(height=2, width=2, encoding="rgb8", step=5, data=b"\0" * 10), "step 5 is smaller"),
        (Image(height=2, width=2, encoding="rgb8", step=6, data=b"\0" * 7), "data holds 7 bytes, 12 needed"),
        (Image(height=0, width=0, encoding="rgb8"), "empty image"),
        (Image(height=70000, width=3, encoding="mono8", step=3, data=b"\0"), "absurd image size"),
    ],
)
def test_malformed_images_are_named(msg, reason):
    with pytest.raises(ImageError, match=reason):
        image_to_rgb(msg)


@pytest.mark.parametrize(
    "msg,reason",
    [
        (CompressedImage(format="webp", data=b"\1"), "unsupported compressed format 'webp'"),
        (CompressedImage(format="jpeg", data=b""), "no data"),
        (CompressedImage(format="jpeg", data=b"\xff\xd8\xff\xe0garbage"), "corrupt or truncated"),
    ],
)
def test_malformed_compressed_are_named(msg, reason):
    with pytest.raises(ImageError, match=reason):
        compressed_to_rgb(msg)


def test_prompt_mask_checks_size_and_encoding():
    mask = make(np.ascontiguousarray((RGB[..., 0] > 128).astype(np.uint8) * 255), "mono8")
    np.testing.assert_array_equal(mask_from_image(mask, (5, 7)), RGB[..., 0] > 128)
    with pytest.raises(ImageError, match="prompt mask is 7x5 but the stream's images are 8x6"):
        mask_from_image(mask, (6, 8))
    with pytest.raises(ImageError, match="must be mono8"):
        mask_from_image(make(RGB, "rgb8"), (5, 7))


@pytest.mark.parametrize("ext,params", [(".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]), (".png", [])])
def test_compressed_size_is_read_from_the_header(ext, params):
    for h, w in ((24, 32), (480, 640), (7, 1001)):
        ok, data = cv2.imencode(ext, np.zeros((h, w, 3), np.uint8), params)
        assert ok and compressed_size(data.tobytes()) == (w, h)


def test_declared_size_is_refused_before_decoding():
    ok, jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(jpeg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2  # declares 20000x20000
    with pytest.raises(ImageError, match="absurd image size 20000x20000") as info:
        check_compressed(CompressedImage(format="jpeg", data=bytes(data)))
    assert info.value.kind == "bad image size"
    for broken in (bytes(data[:sof]), b"\xff\xd8garbage", b"not an image"):
        with pytest.raises(ImageError) as info:
            check_compressed(CompressedImage(format="jpeg", data=broken))
        assert info.value.kind == "bad compressed data"

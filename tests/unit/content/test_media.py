"""Uploads: real images get variants once; bombs, non-images and non-PDFs are refused."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from homeport.content import media, sites
from homeport.content.errors import MediaError
from homeport.content.media import Upload
from homeport.services.context import Context


def jpeg(width: int = 1200, height: int = 800, exif: Image.Exif | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.save(buffer, "JPEG", exif=exif.tobytes() if exif is not None else b"")
    return buffer.getvalue()


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    gps = exif.get_ifd(media.GPS_IFD)
    gps[1] = "N"
    gps[2] = (52.0, 30.0, 0.0)
    return exif


def test_variants_are_made_once_per_content_hash_and_never_upscaled(ctx: Context) -> None:
    ref = media.store_image(ctx, Upload("a.jpg", jpeg()))
    made = media.variants(ctx, ref["hash"])
    assert sorted({v.width for v in made}) == [480, 960, 1200]
    assert {v.ext for v in made} == {"webp", "jpg"}
    stamp = {v.path: v.path.stat().st_mtime_ns for v in made}
    again = media.variants(ctx, ref["hash"])
    assert {v.path: v.path.stat().st_mtime_ns for v in again} == stamp


def test_location_is_removed_from_variants_by_default(ctx: Context) -> None:
    ref = media.store_image(ctx, Upload("geo.jpg", jpeg(exif=gps_exif())))
    for variant in media.variants(ctx, ref["hash"]):
        exif = Image.open(variant.path).getexif()
        assert media.GPS_IFD not in exif
    kept = media.variants(ctx, ref["hash"], keep_location=True)
    assert media.GPS_IFD in Image.open(kept[0].path).getexif()


def test_not_an_image_is_refused(ctx: Context) -> None:
    with pytest.raises(MediaError, match="not an image"):
        media.store_image(ctx, Upload("x.jpg", b"<html>not a picture</html>"))


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, "PNG")  # 400 MP of zeros, a few KB
    with pytest.raises(MediaError, match=r"decompression bomb|not an image"):
        media.check_image(buffer.getvalue(), "bomb.png")


def test_a_truncated_image_is_refused() -> None:
    with pytest.raises(MediaError):
        media.check_image(jpeg()[:400], "cut.jpg")


def test_an_image_checked_twice_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An importer checks a photo when planning and store_image checks it again."""
    opened: list[str] = []
    real = media._open_checked

    def counting(data: bytes, filename: str) -> Image.Image:
        opened.append(filename)
        return real(data, filename)

    monkeypatch.setattr(media, "_open_checked", counting)
    data = jpeg(321, 123)
    assert media.check_image(data, "a.jpg") == (321, 123, "image/jpeg")
    assert media.check_image(data, "b.jpg") == (321, 123, "image/jpeg")
    assert opened == ["a.jpg"]
    with pytest.raises(MediaError):  # a bad image is never remembered as good
        media.check_image(data[:400], "cut.jpg")
    with pytest.raises(MediaError):
        media.check_image(data[:400], "cut.jpg")
    assert opened == ["a.jpg", "cut.jpg", "cut.jpg"]


def test_a_pdf_must_be_a_pdf(ctx: Context) -> None:
    with pytest.raises(MediaError, match="not a PDF"):
        media.store_pdf(ctx, Upload("p.pdf", b"MZ\x90\x00 an executable"))
    assert media.store_pdf(ctx, Upload("p.pdf", b"%PDF-1.7\n1 0 obj\n%%EOF\n"))["mimetype"] == (
        "application/pdf")


def test_a_bad_upload_writes_no_entry(ctx: Context) -> None:
    with pytest.raises(MediaError):
        asyncio.run(sites.add_entry(ctx, "blog", "photo", {"alt": "x"},
                                    {"image": Upload("x.jpg", b"nope")}))
    assert asyncio.run(sites.list_entries(ctx, "blog")) == []


def test_a_photo_entry_keeps_the_image_ref_and_alt(ctx: Context) -> None:
    entry = asyncio.run(sites.add_entry(ctx, "blog", "photo", {"caption": "Red"},
                                        {"image": Upload("r.jpg", jpeg(), alt="A red card")}))
    assert entry.data["alt"] == "A red card"
    assert entry.data["image"]["width"] == 1200


def test_heic_is_accepted_when_pillow_heif_is_installed() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    buffer = io.BytesIO()
    try:
        Image.new("RGB", (64, 48), "green").save(buffer, "HEIF")
    except (KeyError, OSError):
        pytest.skip("this pillow-heif build cannot encode HEIF")
    assert pillow_heif is not None
    assert media.check_image(buffer.getvalue(), "phone.heic")[:2] == (64, 48)

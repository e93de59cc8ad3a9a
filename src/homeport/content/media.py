"""Uploads checked before they are kept, and image variants made once per content hash.

An image is decoded only after its header says it is a real image of a sane size, so a
decompression bomb is refused before it costs memory. Variants (480/960/1920 px wide, WebP and
JPEG, never upscaled) are cached under ``<data>/cache/media/<hash>/``; they carry the photo's
EXIF without its GPS block unless the site keeps locations.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mimetypes
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from homeport.content.errors import MediaError
from homeport.content.variants import (
    WIDTHS,
    Variant,
    cached_variants,
    index_text,
    variant_folder,
    variant_widths,
)
from homeport.files import write_atomically
from homeport.services.context import Context
from homeport.store.protocols import JSONObject

MAX_PIXELS = 60_000_000
"""Above this an image is refused as a possible decompression bomb (a 60 MP photo is fine)."""
__all__ = ["WIDTHS", "Upload", "Variant", "check_image", "check_pdf", "store_file",
           "store_image", "store_pdf", "variant_widths", "variants"]
FORMATS = (("webp", "WEBP", "image/webp"), ("jpg", "JPEG", "image/jpeg"))
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "WEBP": "image/webp", "HEIF": "image/heic", "AVIF": "image/avif",
                 "TIFF": "image/tiff", "BMP": "image/bmp"}
GPS_IFD = 0x8825
ORIENTATION = 0x0112


@dataclass(frozen=True)
class Upload:
    """A file given to ``add_entry``: its name, bytes and (for images) the alt text. A large
    one may come as ``file``, an open binary file (a form's upload spooled to disk), in place
    of ``data``: it is then copied to the blob store in chunks, never read whole into memory
    (only images are, to be decoded)."""

    filename: str
    data: bytes
    alt: str | None = None
    file: BinaryIO | None = None

    def length(self) -> int:
        if self.file is None:
            return len(self.data)
        self.file.seek(0, io.SEEK_END)
        return self.file.tell()

    def content(self) -> bytes:
        if self.file is None:
            return self.data
        self.file.seek(0)
        return self.file.read()

    def head_and_tail(self, size: int) -> tuple[bytes, bytes]:
        """The first and last ``size`` bytes."""
        if self.file is None:
            return self.data[:size], self.data[-size:]
        self.file.seek(0)
        head = self.file.read(size)
        self.file.seek(max(0, self.length() - size))
        return head, self.file.read(size)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], alt: str | None = None) -> Upload:
        file = Path(path)
        try:
            return cls(file.name, file.read_bytes(), alt)
        except OSError as exc:
            raise MediaError(f"cannot read {file}: {exc.strerror or exc}") from None


_heif: list[bool] = []


def heic_supported() -> bool:
    """Register pillow-heif's opener on first use (phones send HEIC; it costs start-up time)."""
    if not _heif:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif.append(True)
        except ImportError:  # pragma: no cover - depends on the platform's wheels
            _heif.append(False)
    return _heif[0]


def _open_checked(data: bytes, filename: str) -> Image.Image:
    heic_supported()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, ValueError, SyntaxError):
        raise MediaError(f"{filename} is not an image Homeport can read "
                         "(JPEG, PNG, GIF, WebP, HEIC…)") from None
    if image.format not in IMAGE_FORMATS:
        raise MediaError(f"{filename}: images of format {image.format} are not accepted")
    if image.width * image.height > MAX_PIXELS:
        raise MediaError(f"{filename} is {image.width}x{image.height} pixels, more than the "
                         f"{MAX_PIXELS // 1_000_000} megapixels accepted (a decompression bomb?)")
    return image


CHECKED_KEPT = 256
"""How many images' check results ``check_image`` remembers (by content digest)."""
_checked: dict[bytes, tuple[int, int, str]] = {}


def check_image(data: bytes, filename: str) -> tuple[int, int, str]:
    """Width, height (as displayed, EXIF rotation applied) and MIME type; MediaError otherwise.

    The last ``CHECKED_KEPT`` good images' answers are remembered by their SHA-256: an
    importer checks an image when it plans an entry and ``store_image`` checks it again, and
    decoding a photo costs a hundred times more than hashing it."""
    digest = hashlib.sha256(data).digest()
    known = _checked.get(digest)
    if known is not None:
        return known
    image = _open_checked(data, filename)
    try:
        image.load()  # truncated or corrupt files fail here, not later at build time
        width, height = image.size
        orientation = image.getexif().get(ORIENTATION, 1)
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        found = (width, height, IMAGE_FORMATS[str(image.format)])
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise MediaError(f"{filename} is not a complete image (truncated or corrupt)") from None
    finally:
        image.close()
    if len(_checked) >= CHECKED_KEPT:
        _checked.clear()
    _checked[digest] = found
    return found


def check_pdf(data: bytes, filename: str, tail: bytes | None = None) -> None:
    """``data`` is the whole file, or its first KiB with ``tail`` its last 2 KiB."""
    end = data[-2048:] if tail is None else tail
    if not data.lstrip()[:5] == b"%PDF-" or b"%%EOF" not in end:
        raise MediaError(f"{filename} is not a PDF (no %PDF- header or %%EOF trailer)")


def _check_size(ctx: Context, upload: Upload) -> None:
    limit = ctx.settings.max_attachment_bytes
    if upload.length() > limit:
        raise MediaError(f"{upload.filename} is bigger than the limit of {limit} bytes")


def _keep(ctx: Context, upload: Upload, mimetype: str) -> JSONObject:
    if upload.file is not None:
        upload.file.seek(0)
    digest = ctx.blobs.put_file(upload.file or io.BytesIO(upload.data))
    return {"hash": digest, "mimetype": mimetype, "size": upload.length(),
            "filename": safe_name(upload.filename)}


def safe_name(filename: str) -> str:
    base = os.path.basename(filename.replace("\\", "/")).strip().replace("\x00", "")
    return base[:255] or "file"


def store_image(ctx: Context, upload: Upload, *, keep_location: bool = False) -> JSONObject:
    """Check, keep the original in the blob store and make its variants; returns the media ref."""
    _check_size(ctx, upload)
    width, height, mimetype = check_image(upload.content(), upload.filename)
    ref = _keep(ctx, upload, mimetype)
    ref.update(width=width, height=height)
    if upload.alt:
        ref["alt"] = upload.alt
    variants(ctx, ref["hash"], keep_location=keep_location)
    return ref


def store_pdf(ctx: Context, upload: Upload) -> JSONObject:
    _check_size(ctx, upload)
    head, tail = upload.head_and_tail(2048)
    check_pdf(head, upload.filename, tail)
    return _keep(ctx, upload, "application/pdf")


def store_file(ctx: Context, upload: Upload) -> JSONObject:
    _check_size(ctx, upload)
    mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    return _keep(ctx, upload, mimetype)


def variants(ctx: Context, digest: str, *, keep_location: bool = False) -> list[Variant]:
    """The image's variants, made on first call and read from the cache afterwards."""
    cached = cached_variants(ctx.settings.data_dir, digest, keep_location)
    if cached is not None:
        return cached
    folder = variant_folder(ctx.settings.data_dir, digest, keep_location)
    with ctx.blobs.open(digest) as source:
        data = source.read()
    made = _make_variants(data, folder, keep_location)
    write_atomically(folder / "index.txt", index_text(made).encode())
    return made


def premake_variants(data_dir: Path, data: bytes, *, keep_location: bool = False) -> None:
    """Make an image's variants ahead of its entry, so ``variants`` later finds them made.

    Needs no context and touches only the variant cache, so an importer runs it in a pool of
    worker threads (Pillow releases the GIL while it resizes and encodes) while the store
    writes. A file that is not an image is left for ``store_image`` to refuse."""
    digest = hashlib.sha256(data).hexdigest()
    if cached_variants(data_dir, digest, keep_location) is not None:
        return
    try:
        made = _make_variants(data, variant_folder(data_dir, digest, keep_location),
                              keep_location)
    except (MediaError, OSError, ValueError):
        return
    folder = variant_folder(data_dir, digest, keep_location)
    write_atomically(folder / "index.txt", index_text(made).encode())


def _exif_bytes(image: Image.Image, keep_location: bool) -> bytes:
    exif = image.getexif()
    exif.pop(ORIENTATION, None)  # the pixels are already rotated
    if not keep_location:
        exif.pop(GPS_IFD, None)
        with contextlib.suppress(KeyError):
            del exif[GPS_IFD]
    return exif.tobytes() if len(exif) else b""


def _make_variants(data: bytes, folder: Path, keep_location: bool) -> list[Variant]:
    image = _open_checked(data, "image")
    exif = _exif_bytes(image, keep_location)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = _flatten(image.convert("RGBA"))
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for width in sorted(variant_widths(image.width), reverse=True):
        height = max(1, round(image.height * width / image.width))
        if width != image.width:
            image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        for ext, fmt, mimetype in FORMATS:
            buffer = io.BytesIO()
            options: dict[str, Any] = {"quality": 80 if fmt == "WEBP" else 82}
            if exif:
                options["exif"] = exif
            if fmt == "JPEG":
                options["optimize"] = True
            image.save(buffer, fmt, **options)
            path = folder / f"{width}.{ext}"
            write_atomically(path, buffer.getvalue())
            made.append(Variant(width, height, ext, mimetype, path))
    return sorted(made, key=lambda v: (v.width, v.ext))


def _flatten(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background

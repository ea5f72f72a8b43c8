"""Staff photos: checked, oriented, stripped of metadata, cut to the 1-inch ratio.

A photo is stored twice under MEDIA_ROOT/photos/, named by the content hash of the
processed image: `<hash>.jpg` (295×413, 1 inch at 300 dpi, for posters) and
`<hash>_t.jpg` (a thumbnail for the phone pages, well under 15 KB).
"""

import hashlib
import io
import os
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from PIL import Image, ImageOps, UnidentifiedImageError

FULL_SIZE = (295, 413)
THUMB_SIZE = (120, 168)
# Faces sit in the upper part of an ID photo; keep them when cropping to the ratio.
CENTERING = (0.5, 0.35)


class PhotoError(ValueError):
    """A file that cannot be used as a staff photo; the message is for people."""


def photo_dir(media_root: str) -> str:
    return os.path.join(media_root, "photos")


def process_photo(data: bytes, max_pixels: int) -> tuple[bytes, bytes]:
    """Return (full, thumbnail) JPEG bytes, or raise PhotoError with a Chinese message."""
    too_large = PhotoError(f"图片尺寸过大（超过{max_pixels // 10000}万像素），请压缩后再上传")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size  # read from the header, nothing decoded yet
            if width * height > max_pixels:
                raise too_large
            image.load()
            # Apply the camera's orientation, then build a new image: no EXIF, GPS or ICC data survives.
            image = ImageOps.exif_transpose(image).convert("RGB")
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except UnidentifiedImageError:
        raise PhotoError("不是可识别的图片文件（支持 JPEG、PNG 等常见格式）") from None
    except (OSError, SyntaxError, ValueError, struct.error, ZeroDivisionError):
        raise PhotoError("图片文件已损坏，无法打开") from None
    full = ImageOps.fit(image, FULL_SIZE, Image.Resampling.LANCZOS, centering=CENTERING)
    thumb = full.resize(THUMB_SIZE, Image.Resampling.LANCZOS)
    return _jpeg(full, 88, dpi=(300, 300)), _jpeg(thumb, 78)


def _jpeg(image: Image.Image, quality: int, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True, **params)
    return out.getvalue()


def store_photo(data: bytes, media_root: str, max_pixels: int) -> str:
    """Process and store a photo; return its name (content hash) for Person.photo."""
    full, thumb = process_photo(data, max_pixels)
    name = hashlib.sha256(full).hexdigest()[:32]
    folder = photo_dir(media_root)
    os.makedirs(folder, exist_ok=True)
    for suffix, content in (("", full), ("_t", thumb)):
        path = os.path.join(folder, f"{name}{suffix}.jpg")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(content)
            os.replace(tmp, path)  # never leave a half-written photo behind
    return name


def _archive_files(path: str) -> Iterator[tuple[str, Callable[[], bytes], int]]:
    """(file name, reader, size) for each file in a folder or a zip archive."""
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        for info in archive.infolist():
            if not info.is_dir():
                yield _zip_name(info), partial(archive.read, info), info.file_size
    elif os.path.isdir(path):
        for root, _dirs, files in os.walk(path):
            for name in sorted(files):
                full = os.path.join(root, name)
                yield os.path.relpath(full, path), partial(_read_file, full), os.path.getsize(full)
    else:
        raise PhotoError(f"“{path}”不是文件夹，也不是 zip 压缩包")


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Zips made on Chinese Windows store GBK names without the UTF-8 flag; Python reads those
    as cp437. Recover UTF-8 names written without the flag, else GBK."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.filename.encode("cp437", errors="replace")
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _human_size(size: int) -> str:
    return f"{size // 1048576}MB" if size >= 1048576 else f"{max(size // 1024, 1)}KB"


def _read_file(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@dataclass
class PhotoImport:
    matched: dict[tuple, bytes]  # person key -> processed source bytes
    errors: list[str]


def read_photo_archive(path: str, max_pixels: int, max_file_bytes: int) -> PhotoImport:
    """Check every photo of a folder or zip named `部门编码_姓名.jpg` (or `部门编码_姓名_电话.jpg`).

    Returns the readable photos by key and a Chinese message for every file that is not.
    """
    matched, errors = {}, []
    for name, read, size in _archive_files(path):
        stem, ext = os.path.splitext(os.path.basename(name))
        if stem.startswith(".") or not stem:
            continue
        parts = tuple(p.strip() for p in stem.split("_"))
        if len(parts) not in (2, 3) or not all(parts):
            errors.append(f"{name}：文件名应为“部门编码_姓名{ext}”或“部门编码_姓名_联系电话{ext}”")
            continue
        if size > max_file_bytes:
            errors.append(f"{name}：文件超过{_human_size(max_file_bytes)}上限")
            continue
        try:
            data = read()
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError):
            errors.append(f"{name}：压缩包中的文件已损坏、加密或压缩方式不支持，无法读取")
            continue
        try:
            process_photo(data, max_pixels)
        except PhotoError as exc:
            errors.append(f"{name}：{exc}")
            continue
        if parts in matched:
            errors.append(f"{name}：与另一个文件对应同一人")
        matched[parts] = data
    return PhotoImport(matched, errors)


class PhotoImportRejected(Exception):
    """No photo was changed: none of the files could be used; `errors` lists every one."""

    def __init__(self, errors: list[str]):
        super().__init__(f"照片导入失败，共{len(errors)}处错误")
        self.errors = errors


@dataclass
class PhotoImportResult:
    stored: int  # people whose photo was replaced
    skipped: list[str]  # every file that was not used, and why


def import_photos(path: str, media_root: str, max_pixels: int, max_file_bytes: int,
                  in_scope: Callable[[object], bool] | None = None) -> PhotoImportResult:
    """Attach the photos of a folder or zip to their people: every file that matches one person
    is used, every other is listed with why. A photo belongs to one person and replaces only that
    person's, so one bad file is no reason to hold back the rest (a hall's archive is fixed file
    by file); an archive with no usable file at all raises PhotoImportRejected. With `in_scope`
    (a department -> bool), people of departments it refuses are not matched."""
    from sqlalchemy import select

    from ..extensions import db
    from ..models import Department, Person

    archive = read_photo_archive(path, max_pixels, max_file_bytes)
    errors, targets = list(archive.errors), []
    for key, data in archive.matched.items():
        code, name, *phone = key
        query = select(Person).join(Department).where(Department.code == code, Person.name == name, Person.active)
        if phone:
            query = query.where(Person.phone == phone[0])
        people = db.session.scalars(query).all()
        label = "_".join(key)
        if not people:
            errors.append(f"{label}：没有找到此人（部门编码、姓名{'、电话' if phone else ''}需与名单一致）")
        elif in_scope is not None and not in_scope(people[0].department):
            errors.append(f"{label}：部门“{people[0].department.name}”不在您的管理范围内")
        elif len(people) > 1:
            errors.append(f"{label}：该部门有多位同名人员，请在文件名中加上联系电话")
        else:
            targets.append((people[0], data))
    if not targets:
        raise PhotoImportRejected(errors or ["压缩包中没有照片文件"])
    for person, data in targets:
        person.photo = store_photo(data, media_root, max_pixels)
    db.session.flush()  # the caller commits
    return PhotoImportResult(len(targets), sorted(errors))

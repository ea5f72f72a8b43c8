"""Photo pipeline: orientation, metadata stripped, 1-inch crop, thumbnails, bad files refused."""

import io
import zipfile

import pytest
from PIL import Image

from ballot_service.services.photos import (
    FULL_SIZE,
    THUMB_SIZE,
    PhotoError,
    PhotoImportRejected,
    import_photos,
    photo_dir,
    process_photo,
)
from tests import factories as f

MAX_PIXELS = 40_000_000


def jpeg_with_exif(width=400, height=300, orientation=6) -> bytes:
    """A landscape photo whose EXIF says 'rotate 90° clockwise', with a GPS position."""
    image = Image.new("RGB", (width, height), "white")
    image.paste((255, 0, 0), (0, 0, width // 2, height))  # left half red
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    gps = exif.get_ifd(0x8825)
    gps[2] = (35.0, 14.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_photo_is_oriented_cropped_to_one_inch_and_stripped_of_metadata():
    full, thumb = process_photo(jpeg_with_exif(), MAX_PIXELS)
    image = Image.open(io.BytesIO(full))
    assert image.size == FULL_SIZE == (295, 413)
    assert image.info.get("dpi") == (300, 300)
    assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
    assert b"TestCam" not in full
    # Orientation 6 turns the red left half to the top: top is red, bottom is white.
    top, bottom = image.getpixel((147, 20)), image.getpixel((147, 400))
    assert top[0] > 200 and top[1] < 60
    assert bottom[1] > 200
    small = Image.open(io.BytesIO(thumb))
    assert small.size == THUMB_SIZE and len(thumb) <= 15 * 1024


def test_noisy_photo_thumbnail_stays_under_15_kb():
    import os

    noise = Image.frombytes("RGB", (1200, 1600), os.urandom(1200 * 1600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    _, thumb = process_photo(out.getvalue(), MAX_PIXELS)
    assert len(thumb) <= 15 * 1024


@pytest.mark.parametrize(
    "data, message",
    [
        (b"%PDF-1.4 not an image", "不是可识别的图片文件"),
        (b"", "不是可识别的图片文件"),
    ],
)
def test_non_images_are_refused(data, message):
    with pytest.raises(PhotoError, match=message):
        process_photo(data, MAX_PIXELS)


def test_decompression_bombs_are_refused_before_decoding():
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # small file, 400 megapixels
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(PhotoError, match="图片尺寸过大（超过4000万像素）"):
        process_photo(bomb.getvalue(), MAX_PIXELS)
    medium = io.BytesIO()
    Image.new("1", (8000, 6000)).save(medium, "PNG")  # under Pillow's own limit, over ours
    with pytest.raises(PhotoError, match="图片尺寸过大"):
        process_photo(medium.getvalue(), MAX_PIXELS)


def test_truncated_image_is_refused():
    data = jpeg_with_exif()
    with pytest.raises(PhotoError, match="图片文件已损坏"):
        process_photo(data[: len(data) // 2], MAX_PIXELS)


def _zip(files: dict[str, bytes], path) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return str(path)


def test_import_photos_from_a_zip_attaches_each_photo(app, database, tmp_path):
    dept = f.department(code="spj")
    a = f.person(dept, name="王建国", phone="13953010001")
    b = f.person(dept, name="李海燕", phone="13953010002")
    database.session.commit()
    path = _zip({"spj_王建国.jpg": jpeg_with_exif(), "照片/spj_李海燕_13953010002.png": jpeg_with_exif()}, tmp_path / "p.zip")
    assert import_photos(path, app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7).stored == 2
    database.session.refresh(a)
    assert a.photo and b.photo
    client = app.test_client()
    response = client.get(f"/media/photos/{a.photo}_t.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "max-age=31536000" in response.headers["Cache-Control"]
    full = Image.open(f"{photo_dir(app.config['MEDIA_ROOT'])}/{a.photo}.jpg")
    assert full.size == FULL_SIZE


def test_import_photos_uses_every_matching_file_and_names_every_other(app, database, tmp_path):
    dept = f.department(code="spj")
    a = f.person(dept, name="王建国")
    f.person(dept, name="张伟", phone="13953010003")
    f.person(dept, name="张伟", phone="13953010004")
    database.session.commit()
    path = _zip(
        {
            "spj_王建国.jpg": jpeg_with_exif(),
            "spj_不存在.jpg": jpeg_with_exif(),
            "spj_张伟.jpg": jpeg_with_exif(),
            "readme.txt": b"hello",
            "spj_王建国_1.jpg": b"not an image",
        },
        tmp_path / "p.zip",
    )
    result = import_photos(path, app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7)
    assert result.stored == 1 and result.skipped == sorted([
        "readme.txt：文件名应为“部门编码_姓名.txt”或“部门编码_姓名_联系电话.txt”",
        "spj_王建国_1.jpg：不是可识别的图片文件（支持 JPEG、PNG 等常见格式）",
        "spj_不存在：没有找到此人（部门编码、姓名需与名单一致）",
        "spj_张伟：该部门有多位同名人员，请在文件名中加上联系电话",
    ])
    database.session.refresh(a)
    assert a.photo  # the one file that matched is used

    # An archive of which no file can be used changes nothing and says why, file by file.
    b = f.person(dept, name="李四")
    database.session.commit()
    path = _zip({"spj_不存在.jpg": jpeg_with_exif(), "spj_李四.jpg": b"not an image"}, tmp_path / "q.zip")
    with pytest.raises(PhotoImportRejected) as caught:
        import_photos(path, app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7)
    assert sorted(caught.value.errors) == ["spj_不存在：没有找到此人（部门编码、姓名需与名单一致）",
                                           "spj_李四.jpg：不是可识别的图片文件（支持 JPEG、PNG 等常见格式）"]
    database.session.refresh(b)
    assert b.photo is None


def test_import_photos_from_a_folder(app, database, tmp_path):
    dept = f.department(code="gaj")
    person = f.person(dept, name="赵敏")
    database.session.commit()
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "gaj_赵敏.jpg").write_bytes(jpeg_with_exif())
    (folder / ".DS_Store").write_bytes(b"junk")  # hidden files are skipped
    assert import_photos(str(folder), app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7).stored == 1
    database.session.refresh(person)
    assert person.photo


def test_import_photos_refuses_oversized_files_and_non_archives(app, database, tmp_path):
    path = _zip({"gaj_赵敏.jpg": jpeg_with_exif()}, tmp_path / "p.zip")
    with pytest.raises(PhotoImportRejected) as caught:
        import_photos(path, app.config["MEDIA_ROOT"], MAX_PIXELS, 2048)
    assert caught.value.errors == ["gaj_赵敏.jpg：文件超过2KB上限"]
    plain = tmp_path / "x.txt"
    plain.write_text("x")
    with pytest.raises(PhotoError, match="不是文件夹，也不是 zip 压缩包"):
        import_photos(str(plain), app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7)


def test_gbk_names_from_windows_zips_and_broken_members(app, database, tmp_path):
    dept = f.department(code="spj")
    person = f.person(dept, name="王建国")
    database.session.commit()
    path = tmp_path / "windows.zip"
    gbk_name = "spj_王建国.jpg".encode("gbk")  # as Windows' zipper writes it: GBK, no UTF-8 flag
    placeholder = b"spj_" + b"X" * (len(gbk_name) - 8) + b".jpg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(placeholder.decode(), jpeg_with_exif())
    path.write_bytes(path.read_bytes().replace(placeholder, gbk_name))
    assert import_photos(str(path), app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7).stored == 1
    database.session.refresh(person)
    assert person.photo

    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("spj_王建国.jpg", jpeg_with_exif() * 3)
    data = bytearray(broken.read_bytes())
    data[60:80] = b"\x00" * 20  # damage the compressed data
    broken.write_bytes(bytes(data))
    with pytest.raises(PhotoImportRejected) as caught:
        import_photos(str(broken), app.config["MEDIA_ROOT"], MAX_PIXELS, 10**7)
    assert caught.value.errors == ["spj_王建国.jpg：压缩包中的文件已损坏、加密或压缩方式不支持，无法读取"]


def test_a_corrupt_exif_block_is_refused_not_crashed():
    data = bytearray(jpeg_with_exif())
    at = data.find(b"Exif")
    data[at + 10:at + 30] = b"\xff" * 20  # garbage offsets in the EXIF directory
    try:
        full, _ = process_photo(bytes(data), MAX_PIXELS)
    except PhotoError as exc:
        assert "损坏" in str(exc)
    else:
        assert Image.open(io.BytesIO(full)).size == FULL_SIZE

"""kinetics_i3d.ingest.manifests: Kinetics CSV, UCF-101, HMDB-51 and class-folder manifests."""
from pathlib import Path

import pytest

from kinetics_i3d import labels
from kinetics_i3d.errors import UserError
from kinetics_i3d.ingest import manifests

LABEL_MAP = Path(__file__).resolve().parents[1] / "kinetics_i3d" / "label_maps" / "label_map.txt"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_kinetics_csv_trimmed_and_full(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "\"punching person (boxing)\",abc123,14,24,train\n"
        "abseiling,--0edUL8zmA,0,10,train\n"
        "abseiling,zzz,3,13,train\n")
    videos = tmp_path / "videos"
    _touch(videos / "abc123_000014_000024.mp4")
    _touch(videos / "abseiling" / "--0edUL8zmA_000000_000010.mkv")  # label folder, other ext
    label_map = manifests.read_label_map(LABEL_MAP)
    entries = manifests.read_kinetics_csv(csv_path, videos, label_map=label_map)
    assert [e.media_id for e in entries] == ["abc123", "--0edUL8zmA", "zzz"]
    assert entries[0].label_string == "punching person (boxing)"
    assert entries[0].label_index == label_map.index("punching person (boxing)") == 259
    assert entries[1].label_index == 0
    assert entries[0].path == str(videos / "abc123_000014_000024.mp4")
    assert entries[1].path == str(videos / "abseiling" / "--0edUL8zmA_000000_000010.mkv")
    assert entries[2].path == str(videos / "zzz_000003_000013.mp4")  # missing: first candidate
    # Trimmed files: whole file, timestamps offset by time_start.
    assert entries[0].start_s is None and entries[0].time_offset_s == 14.0
    # Whole YouTube videos: the span is cut at ingest.
    full = manifests.read_kinetics_csv(csv_path, videos, label_map=label_map, trimmed=False)
    assert (full[0].start_s, full[0].end_s, full[0].time_offset_s) == (14.0, 24.0, 0.0)
    assert full[0].path == str(videos / "abc123.mp4")
    # Default label map: the shipped Kinetics-400 one (issue #16), not the CSV's sorted labels.
    default = manifests.read_kinetics_csv(csv_path, videos)
    assert [e.label_index for e in default] == [259, 0, 0]


def test_kinetics_test_csv_without_labels_and_bad_label(tmp_path):
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("youtube_id,time_start,time_end,split\nq1,5,15,test\n")
    (entry,) = manifests.read_kinetics_csv(csv_path, tmp_path)
    assert entry.label_index is None and entry.label_string is None
    csv_path.write_text("label,youtube_id,time_start,time_end,split\nnot a class,q1,5,15,train\n")
    with pytest.raises(ValueError, match="not a class"):
        manifests.read_kinetics_csv(csv_path, tmp_path, label_map=["abseiling"])
    csv_path.write_text("label,id\n")
    with pytest.raises(ValueError, match="missing columns"):
        manifests.read_kinetics_csv(csv_path, tmp_path)


def test_ucf101_lists(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    (tmp_path / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
        "HandStandPushups/v_HandStandPushups_g08_c01.avi 2\n")
    (tmp_path / "testlist01.txt").write_text("HandStandPushups/v_HandStandPushups_g01_c01.avi\n")
    train = manifests.read_ucf101(tmp_path, "/v", split=1, subset="train")
    assert [(e.label_index, e.label_string) for e in train] == [(0, "ApplyEyeMakeup"),
                                                                (1, "HandstandPushups")]
    assert train[0].path == "/v/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    assert train[0].media_id == "v_ApplyEyeMakeup_g08_c01"
    (test,) = manifests.read_ucf101(tmp_path, "/v", split=1, subset="test")
    assert test.label_index == 1
    (tmp_path / "trainlist01.txt").write_text("ApplyEyeMakeup/v_x.avi 2\n")
    with pytest.raises(ValueError, match="disagrees"):
        manifests.read_ucf101(tmp_path, "/v")


def test_hmdb51_split_files(tmp_path):
    (tmp_path / "wave_test_split1.txt").write_text("w1.avi 1 \nw2.avi 2 \nw3.avi 0 \n")
    (tmp_path / "brush_hair_test_split1.txt").write_text("b1.avi 2 \nb2.avi 1 \n")
    (tmp_path / "brush_hair_test_split2.txt").write_text("b1.avi 1 \nb2.avi 1 \n")
    train = manifests.read_hmdb51(tmp_path, "/h", split=1, subset="train")
    assert [(e.media_id, e.label_index, e.label_string) for e in train] == [
        ("b2", 0, "brush_hair"), ("w1", 1, "wave")]
    test = manifests.read_hmdb51(tmp_path, "/h", split=1, subset="test")
    assert [e.path for e in test] == ["/h/brush_hair/b1.avi", "/h/wave/w2.avi"]
    assert len(manifests.read_hmdb51(tmp_path, "/h", split=2)) == 2
    with pytest.raises(ValueError, match="split3"):
        manifests.read_hmdb51(tmp_path, "/h", split=3)


def test_class_folders_and_load_manifest(tmp_path):
    _touch(tmp_path / "b_class" / "v2.avi")
    _touch(tmp_path / "b_class" / "notes.txt")
    _touch(tmp_path / "a_class" / "v1.MP4")
    entries = manifests.load_manifest("folder", tmp_path)
    assert [(e.media_id, e.label_index) for e in entries] == [("a_class/v1.MP4", 0),
                                                              ("b_class/v2.avi", 1)]
    with pytest.raises(ValueError, match="manifest_format"):
        manifests.load_manifest("youtube8m", tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        manifests.load_manifest("kinetics", tmp_path / "nope.csv")


def _kinetics_csv(tmp_path, labels) -> Path:
    csv_path = tmp_path / "subset.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split\n" + "".join(
        f"{label},id{i},0,10,train\n" for i, label in enumerate(labels)))
    return csv_path


def test_kinetics_subset_without_label_map_uses_the_release_indices(tmp_path):
    # Issue #16: three rows used to be numbered 0..2 from the CSV (zumba = 2, which the 400-class
    # release reads as "answering questions").
    csv_path = _kinetics_csv(tmp_path, ["abseiling", "air drumming", "zumba"])
    manifest = manifests.read_manifest("kinetics", csv_path)
    assert [e.label_index for e in manifest.entries] == [0, 1, 399]
    assert manifest.class_names == labels.default_label_map(400)
    assert manifest.label_map_source == str(labels.KINETICS_400)
    # A label only Kinetics-600 has: the 600 map, in its order.
    manifest = manifests.read_manifest(
        "kinetics", _kinetics_csv(tmp_path, ["zumba", "acting in play"]))
    k600 = labels.default_label_map(600)
    assert [e.label_index for e in manifest.entries] == [599, k600.index("acting in play")]
    assert manifest.class_names == k600
    # In neither map: stop and ask for --label_map, naming the label.
    with pytest.raises(UserError, match=r"'juggling pandas'.*--label_map"):
        manifests.read_manifest("kinetics", _kinetics_csv(tmp_path, ["zumba", "juggling pandas"]))
    # An explicit map is used as given.
    own = tmp_path / "own.txt"
    own.write_text("zumba\nabseiling\nair drumming\n")
    manifest = manifests.read_manifest("kinetics", _kinetics_csv(
        tmp_path, ["abseiling", "air drumming", "zumba"]), label_map_path=own)
    assert [e.label_index for e in manifest.entries] == [1, 2, 0]
    assert manifest.class_names == ["zumba", "abseiling", "air drumming"]


def test_ucf101_and_hmdb51_keep_their_own_orders(tmp_path):
    ucf = tmp_path / "ucf"
    ucf.mkdir()
    (ucf / "classInd.txt").write_text("1 YoYo\n2 ApplyEyeMakeup\n")
    (ucf / "trainlist01.txt").write_text("ApplyEyeMakeup/v_a.avi 2\nYoYo/v_b.avi 1\n")
    manifest = manifests.read_manifest("ucf101", ucf)
    assert manifest.class_names == ["YoYo", "ApplyEyeMakeup"]
    assert [e.label_index for e in manifest.entries] == [1, 0]
    hmdb = tmp_path / "hmdb"
    hmdb.mkdir()
    (hmdb / "wave_test_split1.txt").write_text("w.avi 1\n")
    (hmdb / "clap_test_split1.txt").write_text("c.avi 1\n")
    manifest = manifests.read_manifest("hmdb51", hmdb)
    assert manifest.class_names == ["clap", "wave"]
    assert {e.media_id: e.label_index for e in manifest.entries} == {"c": 0, "w": 1}


def test_an_empty_manifest_is_refused(tmp_path):
    # Issue 17: an empty folder or CSV used to "succeed" with empty shards marked finished.
    (tmp_path / "folder" / "class_a").mkdir(parents=True)
    with pytest.raises(UserError, match="lists no <class>/<video> files"):
        manifests.read_manifest("folder", tmp_path / "folder")
    csv_path = tmp_path / "k.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split\n")
    with pytest.raises(UserError, match="lists no videos"):
        manifests.read_manifest("kinetics", csv_path)

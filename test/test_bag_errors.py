"""Broken bags end the tools with one line that names the file and what is wrong (exit code 2)."""

import os
import shutil

import pytest
import yaml

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.bag import BagError, cli
from ausm_ros.bag.reading import EvalBag

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    """The same small bag in both storages."""
    root = tmp_path_factory.mktemp("bags")
    for storage in ("mcap", "sqlite3"):
        cli.write_main(
            [
                "synthetic",
                str(root / storage),
                "--videos",
                "1",
                "--frames",
                "8",
                "--size",
                "64x64",
                "--storage",
                storage,
                "--no-progress",
            ]
        )
    return root


def copy(bags, storage, tmp_path):
    shutil.copytree(bags / storage, tmp_path / storage)
    suffix = ".mcap" if storage == "mcap" else ".db3"
    return tmp_path / storage, tmp_path / storage / f"{storage}{suffix}"


def run(tool, prog, argv, capsys):
    code = cli.run(prog, tool, [str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


def test_truncated_mcap_is_named(bags, tmp_path, capsys):
    bag, data = copy(bags, "mcap", tmp_path)
    os.truncate(data, os.path.getsize(data) // 2)  # a copy or a recording cut off halfway
    code, err = run(cli.replay_main, "ausm-bag-replay", [bag, "--attach", "--no-progress"], capsys)
    assert code == 2
    assert err.count("\n") == 0 and str(data) in err and "truncated" in err


def test_corrupt_bytes_in_mcap_are_named(bags, tmp_path, capsys):
    bag, data = copy(bags, "mcap", tmp_path)
    with open(data, "r+b") as f:  # inside the frames' chunk: the chunk CRC no longer matches
        f.seek(os.path.getsize(data) // 2)
        f.write(b"\xa5" * 64)
    code, err = run(cli.replay_main, "ausm-bag-replay", [bag, "--no-progress", "--node-timeout", "1"], capsys)
    assert code == 2
    assert str(data) in err and "corrupt" in err and "CRC" in err


def test_corrupt_sqlite3_is_named(bags, tmp_path, capsys):
    bag, data = copy(bags, "sqlite3", tmp_path)
    with open(data, "r+b") as f:
        f.seek(0)
        f.write(b"\x00" * 100)  # the sqlite3 header
    code, err = run(cli.score_main, "ausm-bag-score", [bag, "--ground-truth", bag, "--no-progress"], capsys)
    assert code == 2
    assert str(data) in err and ("sqlite3" in err)


def test_messages_missing_from_a_cut_recording_are_noticed(bags, tmp_path):
    bag, _ = copy(bags, "sqlite3", tmp_path)
    meta_path = bag / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    for topic in meta["rosbag2_bagfile_information"]["topics_with_message_count"]:
        if topic["topic_metadata"]["name"] == "/camera/image_raw":
            topic["message_count"] += 3  # the index promises frames the storage file lost
    meta_path.write_text(yaml.safe_dump(meta))
    with pytest.raises(BagError, match=r"'/camera/image_raw' holds 8 messages but the bag's index lists 11"):
        EvalBag(bag).index()


def test_missing_topics_are_named(bags, tmp_path, capsys):
    code, err = run(
        cli.replay_main,
        "ausm-bag-replay",
        [bags / "mcap", "--image-topic", "/front/image_raw", "--attach", "--no-progress"],
        capsys,
    )
    assert code == 2 and "'/front/image_raw'" in err and "/camera/image_raw (Image, 8)" in err
    # An input bag is no output bag: the node's instances topic is missing.
    code, err = run(
        cli.score_main, "ausm-bag-score", [bags / "mcap", "--ground-truth", bags / "mcap", "--no-progress"], capsys
    )
    assert code == 2 and "'/camera/instances'" in err


def test_missing_bag_and_metadata_are_named(bags, tmp_path, capsys):
    code, err = run(cli.score_main, "ausm-bag-score", [tmp_path / "nothing", "--ground-truth", bags / "mcap"], capsys)
    assert code == 2 and "nothing: no such bag" in err
    bag, data = copy(bags, "mcap", tmp_path)
    (bag / "metadata.yaml").unlink()
    code, err = run(cli.replay_main, "ausm-bag-replay", [bag, "--attach"], capsys)
    assert code == 2 and "no metadata.yaml" in err
    # The storage file alone still opens: rosbags reads bare .mcap files.
    with EvalBag(data) as eval_bag:
        assert len(eval_bag.index().frames) == 8

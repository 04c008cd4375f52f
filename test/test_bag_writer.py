"""Datasets and video files -> evaluation bags (rosbags), read back exactly; bags are real ROS 2 bags."""

import json
import os

import cv2
import numpy as np
import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.bag import cli, demo, layout
from ausm_ros.bag import messages as bm
from ausm_ros.bag.messages import typestore
from ausm_ros.bag.reading import BagFile, EvalBag
from ausm_train.data import DavisSource, YouTubeVISSource
from ausm_train.synthetic import SyntheticConfig, generate_video
from ausm_train.synthetic.writers import DavisWriter, YouTubeVISWriter

pytestmark = pytest.mark.ros

CONFIG = SyntheticConfig(height=48, width=64, num_frames=5, min_objects=2, max_objects=3)


def read_back(path):
    """Sequences, per-sequence frames (RGB), ground truth and prompts of an evaluation bag."""
    with EvalBag(path) as eval_bag:
        eval_bag.index()
        frames = [bm.frame_rgb(m.msg, eval_bag.image_type) for m in eval_bag.bag.messages([eval_bag.image_topic])]
        gts = list(eval_bag.ground_truth())
        prompts = [
            (p.sequence, p.object_id, typestore().deserialize_cdr(p.raw, layout.OBJECT_PROMPT))
            for p in eval_bag.prompts
        ]
        return eval_bag.sequences, eval_bag.frames, frames, gts, prompts


def assert_ground_truth(clip, gt, prompts):
    """The bag's label images and first-appearance prompts are the clip's masks."""
    assert gt.annotated == list(range(clip.num_frames))
    for n in range(clip.num_instances):
        np.testing.assert_array_equal(gt.masks[n + 1], clip.masks[n])
        first = int(np.flatnonzero(clip.masks[n].any(axis=(1, 2)))[0])
        (prompt,) = [p for _, label, p in prompts if label == n + 1]
        assert bm.stamp_ns(prompt.header.stamp) == gt.info.first_stamp_ns + first * 10**8  # 10 fps
        np.testing.assert_array_equal(bm.prompt_mask(prompt), clip.masks[n, first])


def test_davis_layout_to_bag(tmp_path):
    clips = [generate_video(CONFIG, 5, i) for i in range(2)]
    writer = DavisWriter(tmp_path / "davis", split="val")
    for clip in clips:
        writer.add(clip)
    writer.close()
    cli.write_main(
        ["davis", str(tmp_path / "bag"), "--root", str(tmp_path / "davis"), "--split", "val", "--no-progress"]
    )
    sequences, refs, frames, gts, prompts = read_back(tmp_path / "bag")
    source = DavisSource(tmp_path / "davis", "val")  # what training reads: the JPEG-decoded frames
    assert [s.name for s in sequences] == [c.video for c in clips]
    for k in range(len(clips)):
        loaded = source.load(k)
        seq_frames = [f for f, r in zip(frames, refs) if r.sequence == k]
        np.testing.assert_array_equal(np.stack(seq_frames), loaded.frames)
        assert_ground_truth(loaded, gts[k], [p for p in prompts if p[0] == k])
        assert [o.dataset_id for o in sequences[k].objects] == loaded.instance_ids.tolist()
    # Sequences are 10 s apart in stamps: a node with reset_on_gap_sec 5 restarts between them.
    assert sequences[1].first_stamp_ns - sequences[0].last_stamp_ns == 10 * 10**9


def test_youtube_vis_to_bag_keeps_classes_and_sqlite3_works(tmp_path):
    clips = [generate_video(CONFIG, 6, i) for i in range(2)]
    writer = YouTubeVISWriter(tmp_path / "ytvis", CONFIG.classes, split="train")
    for clip in clips:
        writer.add(clip)
    json_path = writer.close()
    cli.write_main(
        [
            "ytvis",
            str(tmp_path / "bag"),
            "--annotations",
            str(json_path),
            "--images",
            str(tmp_path / "ytvis" / "train" / "JPEGImages"),
            "--videos",
            "1",
            "--storage",
            "sqlite3",
            "--label-format",
            "raw",
            "--image-format",
            "png",
            "--no-progress",
        ]
    )
    assert (tmp_path / "bag" / "bag.db3").exists()
    sequences, _, frames, gts, prompts = read_back(tmp_path / "bag")
    loaded = YouTubeVISSource(json_path, tmp_path / "ytvis" / "train" / "JPEGImages").load(0)
    assert len(sequences) == 1 and sequences[0].class_names == list(CONFIG.classes)
    assert [o.class_name for o in sequences[0].objects] == [CONFIG.classes[c] for c in loaded.category_ids]
    np.testing.assert_array_equal(np.stack(frames), loaded.frames)  # png: lossless
    assert_ground_truth(loaded, gts[0], prompts)
    assert {p.class_id for _, _, p in prompts} <= set(CONFIG.classes)
    with BagFile(tmp_path / "bag") as bag:
        (info,) = list(bag.messages([layout.GT_LABEL_INFO]))
        assert [c.class_name for c in info.msg.class_map] == list(CONFIG.classes)


def test_video_file_to_bag_without_ground_truth(tmp_path):
    video = tmp_path / "clip.mp4"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (80, 60))
    for k in range(9):
        out.write(np.full((60, 80, 3), 20 * k, np.uint8))
    out.release()
    cli.write_main(
        [
            "video",
            str(tmp_path / "bag"),
            "--video",
            str(video),
            "--image-format",
            "jpeg",
            "--size",
            "40x30",
            "--no-progress",
        ]
    )
    sequences, refs, frames, gts, prompts = read_back(tmp_path / "bag")
    assert len(sequences) == 1 and not sequences[0].has_ground_truth and sequences[0].fps == 12.0
    assert len(frames) == 9 and frames[0].shape == (30, 40, 3) and gts == [] and prompts == []
    assert refs[-1].stamp_ns - refs[0].stamp_ns == round(8 / 12.0 * 1e9)
    with EvalBag(tmp_path / "bag") as eval_bag:
        assert eval_bag.image_topic == "/camera/image_raw/compressed"


def test_bags_carry_the_real_type_hashes_and_rclpy_reads_them(tmp_path):
    """What `ros2 bag` checks (RIHS01 hashes from rosidl) and what rclpy decodes (the CDR bytes)."""
    from ament_index_python.packages import get_package_share_directory
    from ausm_ros.msg import ObjectPrompt
    from rclpy.serialization import deserialize_message

    cli.write_main(
        [
            "synthetic",
            str(tmp_path / "bag"),
            "--videos",
            "1",
            "--frames",
            "8",
            "--size",
            "64x64",
            "--compress",
            "--no-progress",
        ]
    )
    import yaml

    meta = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    hashes = {
        t["topic_metadata"]["type"]: t["topic_metadata"]["type_description_hash"]
        for t in meta["topics_with_message_count"]
    }
    for msgtype in ("ausm_ros/msg/ObjectPrompt", "vision_msgs/msg/LabelInfo", "sensor_msgs/msg/Image"):
        package, _, name = msgtype.split("/")
        description = json.loads(open(os.path.join(get_package_share_directory(package), "msg", f"{name}.json")).read())
        (want,) = [h["hash_string"] for h in description["type_hashes"] if h["type_name"] == msgtype]
        assert hashes[msgtype] == want, msgtype
    with EvalBag(tmp_path / "bag") as eval_bag:
        eval_bag.index()
        ours = typestore().deserialize_cdr(eval_bag.prompts[0].raw, layout.OBJECT_PROMPT)
        theirs = deserialize_message(eval_bag.prompts[0].raw, ObjectPrompt)
    assert (theirs.prompt_id, theirs.object_id, theirs.mask.width, theirs.mask.encoding) == (
        ours.prompt_id,
        ours.object_id,
        ours.mask.width,
        "mono8",
    )
    assert bytes(theirs.mask.data) == bytes(ours.mask.data)


@pytest.mark.parametrize("tool", [cli.write_main, cli.replay_main, cli.score_main, cli.overlay_main, demo.main])
def test_every_tool_has_help(tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_bundled_bag_is_the_seeded_synthetic_data_on_the_nodes_default_topic():
    from ausm_train.synthetic import SyntheticConfig as Config

    bag = demo.bundled_bag()
    assert sum(f.stat().st_size for f in bag.iterdir()) < 5 * 2**20
    sequences, refs, frames, gts, prompts = read_back(bag)
    with EvalBag(bag) as eval_bag:
        assert eval_bag.image_topic == "/camera/image_raw"  # `ros2 bag play` feeds the node as configured
    config = Config(height=128, width=128, num_frames=24, min_objects=1, max_objects=4)
    assert [s.name for s in sequences] == [f"s1000_{i:05d}" for i in range(3)]
    for k in range(3):
        clip = generate_video(config, 1000, k)  # regenerate: python -m ausm_ros.bag write synthetic ...
        np.testing.assert_array_equal(np.stack([f for f, r in zip(frames, refs) if r.sequence == k]), clip.frames)
        assert_ground_truth(clip, gts[k], [p for p in prompts if p[0] == k])

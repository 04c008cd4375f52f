"""Bag replay over real DDS into the node process: the scores equal running the model directly, resets are reported."""

import json

import numpy as np
import pytest
import torch

from ausm.checkpoint import load_checkpoint, save_checkpoint
from ausm.model import build_model
from ausm.session import StreamSession
from ausm_eval.metrics import SEMI_SUPERVISED, DavisEvaluator, GtTrack, JFWithBaselines, VideoAPEvaluator

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.bag import cli
from ausm_ros.bag.reading import BagFile
from ausm_ros.bag.replay import NodeOptions, ReplayOptions
from ausm_ros.bag.scoring import replay_and_score
from ausm_ros.bag.writing import BagWriter, EvalBagWriter, WriteOptions
from ausm_train.data import VideoClip
from ausm_train.synthetic import SyntheticConfig, generate_video
from ausm_train.train.evaluate import clip_labels, run_prompted, run_unprompted

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]

CLASS_NAMES = [f"class{i}" for i in range(8)]  # the tiny model's 8 class logits


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random_tiny.safetensors"
    save_checkpoint(build_model("tiny"), path)
    return str(path)


def self_labelled(model, clip):
    """The clip with its ground truth replaced by what the model itself finds, unprompted.

    A randomly initialised model scores 0 AP against real masks, which no difference
    between replay and direct run could change; against its own tracks it scores
    well above 0, so any frame, mask, id or score the replay got wrong shows."""
    session = StreamSession(model, discovery=True)
    labels, classes = [], {}
    for frame in clip.frames:
        result = session.step(frame)
        labels.append(result.label_image())
        for tid, cls in zip(result.track_ids, result.class_ids):
            classes.setdefault(int(tid), int(cls))
    labels = np.stack(labels)
    ids = [t for t in sorted(classes) if (labels == t).any()]
    return VideoClip(
        frames=clip.frames,
        masks=np.stack([labels == t for t in ids]),
        instance_ids=np.array(ids),
        category_ids=np.array([classes[t] for t in ids]),
        dataset="selflabelled",
        video=clip.video,
        frame_names=clip.frame_names,
    )


def direct_scores(model, clips):
    """The metrics of running StreamSession on the clips, as ausm_train's evaluation does."""
    davis = DavisEvaluator(task=SEMI_SUPERVISED)
    ap, ap_agnostic = VideoAPEvaluator(class_agnostic=False), VideoAPEvaluator(class_agnostic=True)
    for clip in clips:
        shape = clip.masks.shape[1:]
        davis.add_video(
            clip.video,
            {int(i): clip.masks[k] for k, i in enumerate(clip.instance_ids)},
            run_prompted(model, clip),
            shape=shape,
        )
        gt = {
            int(i): GtTrack(int(c), clip.masks[k]) for k, (i, c) in enumerate(zip(clip.instance_ids, clip.category_ids))
        }
        pred = run_unprompted(model, clip)
        ap.add_video(gt, pred, shape)
        ap_agnostic.add_video(gt, pred, shape)
    return davis.summary(), ap.summary(), ap_agnostic.summary()


@pytest.fixture
def dds(ros_env, monkeypatch):
    """The test process joins the test's own DDS domain (the replay's ROS node lives here)."""
    monkeypatch.setenv("ROS_DOMAIN_ID", ros_env["ROS_DOMAIN_ID"])
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return ros_env


def test_replay_scores_equal_the_direct_session(checkpoint, dds, tmp_path, capsys):
    torch.set_num_threads(1)  # the node runs with num_threads 1: same kernels, bit-identical results
    model = load_checkpoint(checkpoint).eval()
    config = SyntheticConfig(height=96, width=128, num_frames=8, min_objects=2, max_objects=3)
    clips = [self_labelled(model, generate_video(config, 7, i)) for i in range(2)]
    bag = tmp_path / "selflabelled"
    with EvalBagWriter(bag, WriteOptions(fps=10.0)) as writer:
        for clip in clips:
            writer.add_clip(clip, CLASS_NAMES)

    report, report_path = replay_and_score(
        bag,
        tmp_path / "out",
        "both",
        ReplayOptions(),
        NodeOptions(checkpoint=checkpoint, num_threads=1, extra={"backend": "torch"}),
        env=dds,
    )

    davis, ap, ap_agnostic = direct_scores(model, clips)
    prompted, unprompted = report["passes"]["prompted"], report["passes"]["unprompted"]
    assert unprompted["overall"]["metrics"]["AP"] > 0.1  # the equalities below are not about zeros
    for key in ("J&F-Mean", "J-Mean", "F-Mean", "J-Recall", "F-Recall", "J-Decay", "F-Decay"):
        assert prompted["overall"]["metrics"][key] == pytest.approx(davis[key], abs=1e-6), key
    for key in ("AP", "AP50", "AP75", "AR1", "AR10"):
        assert unprompted["overall"]["metrics"][key] == pytest.approx(ap[key], abs=1e-6), key
        assert unprompted["overall"]["metrics"][f"{key}_class_agnostic"] == pytest.approx(ap_agnostic[key], abs=1e-6)

    for scored in (prompted, unprompted):
        assert scored["warnings"] == []
        assert scored["overall"]["outputs"] == scored["overall"]["sent"] == 16
        assert scored["overall"]["dropped"] == 0 and scored["overall"]["duplicate_outputs"] == 0
        assert scored["overall"]["latency_ms"]["count"] == 16 and scored["overall"]["latency_ms"]["p50"] > 0
        # The 10 s gap between the two sequences restarts the stream once, as the stamps predict.
        assert [s["resets"]["node"] for s in scored["sequences"]] == [0, 1]
        assert [s["resets"]["expected_at_start"] for s in scored["sequences"]] == [0, 1]
    for row in prompted["sequences"]:
        assert row["prompts"]["sent"] == row["prompts"]["applied"] > 0  # none late, none rejected
    assert json.loads(report_path.read_text())["passes"]["prompted"]["overall"]["metrics"]["J&F-Mean"] == pytest.approx(
        davis["J&F-Mean"], abs=1e-6
    )

    # The same scoring offline, from the recorded output bags alone.
    offline = tmp_path / "offline.json"
    capsys.readouterr()
    assert (
        cli.score_main(
            [
                str(tmp_path / "out" / "prompted"),
                str(tmp_path / "out" / "unprompted"),
                "--report",
                str(offline),
                "--no-progress",
                "--baselines",
            ]
        )
        is None
    )
    printed = capsys.readouterr().out
    assert "static baseline" in printed and "empty baseline" in printed
    again = json.loads(offline.read_text())["passes"]
    # the baselines of the report are those of the ground truth, on the same frames
    direct = JFWithBaselines()
    for clip in clips:
        direct.add_labels(clip.video, clip_labels(clip), None)
    for row in ("static", "empty"):
        assert again["prompted"]["overall"]["baselines"][row]["J&F-Mean"] == pytest.approx(
            direct.summary()[row]["J&F-Mean"], abs=1e-12
        )
    assert again["prompted"]["overall"]["metrics"] == pytest.approx(prompted["overall"]["metrics"], abs=1e-12)
    assert again["unprompted"]["overall"]["metrics"] == pytest.approx(unprompted["overall"]["metrics"], abs=1e-12)
    # And from a plain recording of the node's topics (what `ros2 bag record` gives): no
    # /replay bookkeeping, so outputs are matched to frames by their stamps alone.
    plain = tmp_path / "plain"
    with BagFile(tmp_path / "out" / "prompted") as recorded, BagWriter(plain) as copy:
        for m in recorded.messages(["/camera/instances", "/prompt_ack", "/diagnostics"]):
            copy.write_raw(m.topic, m.msgtype, m.log_ns, m.raw)
    from ausm_ros.bag.scoring import score_offline

    (plain_pass,) = score_offline(bag, [plain], log=lambda text: None)["passes"].values()
    assert plain_pass["task"] == "prompted" and plain_pass["overall"]["latency_measured_from"] == "header stamp"
    assert plain_pass["overall"]["metrics"] == pytest.approx(prompted["overall"]["metrics"], abs=1e-12)

    # The overlay video has every frame.
    import cv2

    video = tmp_path / "overlay.mp4"
    cli.overlay_main(
        [str(tmp_path / "out" / "unprompted"), "--out", str(video), "--png-dir", str(tmp_path / "png"), "--no-progress"]
    )
    capture = cv2.VideoCapture(str(video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 16
    ok, first = capture.read()
    assert ok and first.shape[0] >= 360
    capture.release()
    assert len(list((tmp_path / "png").glob("*.png"))) == 4


def test_gaps_and_time_jumps_reset_the_node_and_the_report_says_so(checkpoint, dds, tmp_path):
    clip = generate_video(SyntheticConfig(height=64, width=64, num_frames=8, min_objects=1, max_objects=2), 3, 0)
    ns = 10**9
    # 0.1 s apart, then a 6 s gap (reset_on_gap_sec is 5), then the camera clock jumps back
    # to frame 1's stamp (a looping bag): two resets inside one sequence.
    stamps = (
        [100 * ns + k * ns // 10 for k in range(4)]
        + [106 * ns, 106 * ns + ns // 10]
        + [100 * ns + ns // 10, 100 * ns + 2 * ns // 10]
    )
    bag = tmp_path / "jumpy"
    with EvalBagWriter(bag, WriteOptions(image_format="png")) as writer:
        writer.add_clip(clip, [], stamps=stamps)

    report, _ = replay_and_score(
        bag,
        tmp_path / "out",
        "unprompted",
        ReplayOptions(),
        NodeOptions(checkpoint=checkpoint, num_threads=1, extra={"backend": "torch"}),
        env=dds,
    )

    scored = report["passes"]["unprompted"]
    row = scored["sequences"][0]
    assert row["outputs"] == 8 and row["dropped"] == 0  # frames with a repeated stamp are told apart
    assert row["resets"]["node"] == 2
    reasons = [(r["frame"], r["reason"].split(":")[0]) for r in row["resets"]["inside_sequence"]]
    assert reasons == [(4, "gap"), (6, "time jump")]
    assert "time jump" in row["resets"]["node_last_reset"]
    assert any("resets inside the sequence" in w and "frame 4: gap" in w for w in scored["warnings"])


def test_realtime_replay_paces_frames_and_drives_the_node_clock(checkpoint, dds, tmp_path):
    clip = generate_video(SyntheticConfig(height=64, width=64, num_frames=10, min_objects=1, max_objects=2), 4, 0)
    bag = tmp_path / "ten"
    with EvalBagWriter(bag, WriteOptions(fps=10.0)) as writer:
        writer.add_clip(clip, [])

    report, _ = replay_and_score(
        bag,
        tmp_path / "out",
        "unprompted",
        ReplayOptions(mode="realtime", rate=0.5),
        NodeOptions(checkpoint=checkpoint, num_threads=1, extra={"backend": "torch"}),
        env=dds,
    )

    scored = report["passes"]["unprompted"]
    assert scored["mode"] == "realtime" and scored["node_parameters"]["use_sim_time"] is True
    overall = scored["overall"]
    assert overall["sent"] == 10 and overall["outputs"] + overall["dropped"] == 10 and overall["outputs"] > 0
    # The node's /diagnostics timer runs on sim time: counters arrive only because /clock moved.
    assert overall["node"]["frames_received"] >= overall["outputs"] and scored["sequences"][0]["resets"]["node"] == 0
    from ausm_ros.bag.reading import read_record

    sends = sorted(p.send_ns for p in read_record(tmp_path / "out" / "unprompted").published)
    assert (sends[-1] - sends[0]) / 1e9 == pytest.approx(9 * 0.1 / 0.5, rel=0.2)  # 10 fps at half speed


def test_demo_replays_the_bundled_bag_and_writes_what_a_person_looks_at(checkpoint, dds, tmp_path, capsys):
    from ausm_ros.bag import demo

    demo.main(["--checkpoint", checkpoint, "--out", str(tmp_path / "demo"), "--task", "unprompted", "--no-progress"])
    out = capsys.readouterr().out
    assert out.count("s1000_0000") >= 72  # a line per frame with its tracks
    assert "unprompted pass (lockstep)" in out and "\nall " in out
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["headline"]["unprompted"]["frames"] == 72 and report["headline"]["unprompted"]["dropped"] == 0
    assert (tmp_path / "demo" / "overlay.mp4").stat().st_size > 0
    assert len(list((tmp_path / "demo" / "frames").glob("*.png"))) == 4

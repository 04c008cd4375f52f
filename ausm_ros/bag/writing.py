"""Writing bags: rosbag2 (mcap or sqlite3) through rosbags with the MCAP chunk CRCs filled
in, and evaluation bags from dataset clips (read with the training package's loaders) or
from a video file.
"""

import logging
import shutil
import struct
import threading
from binascii import crc32
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from ausm_ros.bag import BagError, layout, messages
from ausm_ros.bag.messages import NS, typestore

# --------------------------------------------------------------------------------------------------
# Fill in the chunk checksums of an MCAP file that rosbags wrote without them.
#
# MCAP chunks carry a CRC-32 of their uncompressed records; rosbags writes 0 there
# ("no checksum"), so flipped bytes inside image data would go unnoticed. Readers
# (rosbags, the mcap library, ros2 bag) verify a non-zero CRC, so adding it after the
# file is closed makes corruption anywhere in the message data a clear read error.

_MAGIC = b"\x89MCAP0\r\n"
_CHUNK, _DATA_END, _FOOTER = 0x06, 0x0F, 0x02


def _decompress(data, compression):
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd
        except ImportError:
            from backports import zstd
        return zstd.decompress(data)
    if compression == "lz4":
        from lz4.frame import decompress

        return decompress(data)
    raise ValueError(f"unknown chunk compression '{compression}'")


def add_chunk_crcs(path):
    """Write the CRC of every chunk in place; returns the number of chunks."""
    chunks = 0
    with open(path, "r+b") as f:
        if f.read(8) != _MAGIC:
            raise ValueError(f"{path} is not an MCAP file")
        while True:
            head = f.read(9)
            if len(head) < 9:
                break
            op, length = head[0], struct.unpack("<Q", head[1:])[0]
            body_start = f.tell()
            if op in (_DATA_END, _FOOTER):
                break
            if op == _CHUNK:
                body = f.read(length)
                (name_len,) = struct.unpack_from("<I", body, 28)
                compression = body[32 : 32 + name_len].decode()
                (records_len,) = struct.unpack_from("<Q", body, 32 + name_len)
                records = body[40 + name_len : 40 + name_len + records_len]
                f.seek(body_start + 24)
                f.write(struct.pack("<I", crc32(_decompress(records, compression))))
                chunks += 1
            f.seek(body_start + length)
    return chunks


# --------------------------------------------------------------------------------------------------
# Write rosbag2 bags (mcap or sqlite3) through rosbags, one connection per topic.

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


def remove_bag(path):
    """Delete an existing bag directory, refusing anything that does not look like one."""
    path = Path(path)
    if not path.exists():
        return
    if not (path / "metadata.yaml").exists():
        raise BagError(f"{path} exists and is not a rosbag2 directory (no metadata.yaml); not removing it")
    shutil.rmtree(path)


class BagWriter:
    """Thread-safe (the replay records from DDS callbacks); use as a context manager.

    compress: zstd chunks for mcap (what `ros2 bag record --storage-preset-profile zstd_fast`
    gives), per-message zstd for sqlite3.
    """

    def __init__(self, path, storage="mcap", compress=False, custom_data=None, overwrite=False):
        if storage not in STORAGES:
            raise BagError(f"unknown storage '{storage}' (choose mcap or sqlite3)")
        self.path = Path(path)
        if overwrite:
            remove_bag(self.path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; choose another path (or --overwrite)")
        self.storage = storage
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        if compress:
            mode = CompressionMode.STORAGE if storage == "mcap" else CompressionMode.MESSAGE
            self._writer.set_compression(mode, CompressionFormat.ZSTD)
        for key, value in (custom_data or {}).items():
            self._writer.set_custom_data(key, str(value))
        self._connections = {}
        self._lock = threading.Lock()
        self._store = typestore()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer.open()
        self._open = True

    def _connection(self, topic, msgtype):
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self._writer.add_connection(topic, msgtype, typestore=self._store)
        return self._connections[key]

    def write(self, topic, msgtype, log_ns, msg):
        self.write_raw(topic, msgtype, log_ns, self._store.serialize_cdr(msg, msgtype))

    def write_raw(self, topic, msgtype, log_ns, raw):
        with self._lock:
            if self._open:
                self._writer.write(self._connection(topic, msgtype), int(log_ns), bytes(raw))

    def close(self):
        with self._lock:
            if not self._open:
                return
            self._open = False
            self._writer.close()
        if self.storage == "mcap":
            for mcap in self.path.glob("*.mcap"):
                add_chunk_crcs(mcap)

    def abort(self):
        with self._lock:
            if self._open:
                self._open = False
                self._writer.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------------
# Sequences (dataset clips with ground truth, or bare video frames) -> an evaluation bag.
#
# See ausm_ros.bag.layout for the topics. Frame i of a sequence is stamped
# first_stamp + i / fps (bag time and header stamp alike, unless stamps are given); each
# sequence starts `sequence_gap_sec` after the previous one ends, so a node with the
# default reset_on_gap_sec restarts its stream there.

IMAGE_FORMATS = ("raw", "jpeg", "png")
LABEL_FORMATS = ("raw", "png")


@dataclass
class WriteOptions:
    fps: float = 10.0
    image_format: str = "raw"  # raw: sensor_msgs/Image rgb8; jpeg / png: CompressedImage
    jpeg_quality: int = 90
    label_format: str = "png"  # raw: mono16 Image; png: 16-bit png CompressedImage (lossless, small)
    frame_id: str = "camera"
    image_topic: str = layout.IMAGE_TOPIC
    start_sec: float = 1000.0  # stamps must be > 0: a zero prompt stamp means "next frame"
    sequence_gap_sec: float = layout.DEFAULT_SEQUENCE_GAP_SEC
    storage: str = "mcap"
    compress: bool = False

    def __post_init__(self):
        if self.image_format not in IMAGE_FORMATS:
            raise BagError(f"image format must be one of {IMAGE_FORMATS}, got '{self.image_format}'")
        if self.label_format not in LABEL_FORMATS:
            raise BagError(f"label format must be one of {LABEL_FORMATS}, got '{self.label_format}'")
        if not self.fps > 0:
            raise BagError(f"fps must be positive, got {self.fps}")
        if self.start_sec <= 0 or self.sequence_gap_sec < 0:
            raise BagError("start time must be > 0 and the sequence gap >= 0")

    @property
    def camera_topic(self):
        compressed = self.image_format != "raw"
        return self.image_topic + (layout.COMPRESSED_SUFFIX if compressed else "")


class EvalBagWriter:
    def __init__(self, path, options: WriteOptions = None, source_note="", overwrite=False):
        self.options = options or WriteOptions()
        self.sequences = []
        self._next_log = int(round(self.options.start_sec * NS))
        self._prompt_id = 0
        self._topics = layout.gt_topics(self.options.label_format == "png")
        self._bag = BagWriter(
            path,
            self.options.storage,
            self.options.compress,
            overwrite=overwrite,
            custom_data={"ausm_ros.bag_format": layout.BAG_FORMAT, "ausm_ros.source": source_note},
        )
        self.path = self._bag.path

    def _times(self, count, stamps=None):
        """Bag times (a steady recording clock) and header stamps (the camera's clock; the
        same unless given, e.g. to reproduce a camera whose clock jumped)."""
        first = self._next_log
        log_times = [first + int(round(i * NS / self.options.fps)) for i in range(count)]
        self._next_log = log_times[-1] + int(round(self.options.sequence_gap_sec * NS))
        if stamps is None:
            return log_times, list(log_times)
        stamps = [int(s) for s in stamps]
        if len(stamps) != count or min(stamps) <= 0:
            raise BagError(f"need {count} positive stamps, got {len(stamps)} (min {min(stamps, default=0)})")
        return log_times, stamps

    def _write_frame(self, rgb, log_ns, stamp):
        opts = self.options
        hdr = messages.header(stamp, opts.frame_id)
        if opts.image_format == "raw":
            self._bag.write(opts.camera_topic, layout.IMAGE, log_ns, messages.rgb_image(rgb, hdr))
        else:
            self._bag.write(
                opts.camera_topic,
                layout.COMPRESSED_IMAGE,
                log_ns,
                messages.compressed_rgb(rgb, hdr, opts.image_format, opts.jpeg_quality),
            )

    def _write_labels(self, labels, log_ns, stamp):
        hdr = messages.header(stamp, self.options.frame_id)
        if self.options.label_format == "raw":
            self._bag.write(self._topics["labels"], layout.IMAGE, log_ns, messages.label_image(labels, hdr))
        else:
            self._bag.write(
                self._topics["labels"], layout.COMPRESSED_IMAGE, log_ns, messages.compressed_labels(labels, hdr)
            )

    def _write_info(self, info, first_log_ns):
        # Sequences are told apart by bag time: everything after this record (and before the
        # next one) belongs to this sequence, whatever the header stamps do.
        self._bag.write(self._topics["sequence"], layout.STRING, first_log_ns - 1, messages.string(info.to_json()))

    def add_clip(self, clip, class_names=(), stamps=None):
        """A VideoClip with its masks: frames, label images, a prompt per object, the class map.
        `stamps` (ns, one per frame) overrides the header stamps, e.g. to put a gap or a jump in."""
        if clip.num_instances > 65535:
            raise BagError(f"video {clip.video} has {clip.num_instances} objects; mono16 labels hold 65535")
        log_times, stamps = self._times(clip.num_frames, stamps)
        class_names = list(class_names)
        objects = [
            layout.ObjectInfo(
                label=n + 1,
                dataset_id=int(clip.instance_ids[n]),
                category=int(clip.category_ids[n]),
                class_name=class_names[clip.category_ids[n]] if 0 <= clip.category_ids[n] < len(class_names) else "",
            )
            for n in range(clip.num_instances)
        ]
        info = layout.SequenceInfo(
            name=clip.video,
            dataset=clip.dataset,
            index=len(self.sequences),
            num_frames=clip.num_frames,
            width=clip.width,
            height=clip.height,
            first_stamp_ns=stamps[0],
            last_stamp_ns=stamps[-1],
            fps=self.options.fps,
            has_ground_truth=bool(clip.annotated.any()),
            class_names=class_names,
            objects=objects,
        )
        self._write_info(info, log_times[0])
        if class_names:
            self._bag.write(
                self._topics["label_info"],
                layout.LABEL_INFO,
                log_times[0],
                messages.label_info(messages.header(stamps[0], self.options.frame_id), class_names),
            )
        prompted = set()
        for t, (log_ns, stamp) in enumerate(zip(log_times, stamps)):
            if clip.annotated[t]:
                labels = clip.label_map(t).astype(np.uint16)
                self._write_labels(labels, log_ns, stamp)
                for obj in objects:
                    mask = labels == obj.label
                    if obj.label not in prompted and mask.any():
                        prompted.add(obj.label)
                        self._prompt_id += 1
                        self._bag.write(
                            self._topics["prompts"],
                            layout.OBJECT_PROMPT,
                            log_ns,
                            messages.object_prompt(
                                messages.header(stamp, self.options.frame_id),
                                self._prompt_id,
                                obj.label,
                                mask,
                                obj.class_name,
                            ),
                        )
            self._write_frame(clip.frames[t], log_ns, stamp)
        self.sequences.append(info)
        return info

    def add_frames(self, name, frames, dataset="video", fps=None):
        """Frames without ground truth (a video file). `frames` may be a generator: its length
        is known only at the end, so the sequence record is written last (bag time orders it first)."""
        if fps:
            self.options.fps = float(fps)
        first = self._next_log
        period = NS / self.options.fps
        count, size = 0, None
        for count, rgb in enumerate(frames, start=1):
            size = size or rgb.shape[:2]
            stamp = first + int(round((count - 1) * period))
            self._write_frame(rgb, stamp, stamp)
        if count == 0:
            raise BagError(f"sequence {name} has no frames")
        log_times, stamps = self._times(count)
        info = layout.SequenceInfo(
            name=name,
            dataset=dataset,
            index=len(self.sequences),
            num_frames=count,
            width=int(size[1]),
            height=int(size[0]),
            first_stamp_ns=stamps[0],
            last_stamp_ns=stamps[-1],
            fps=self.options.fps,
            has_ground_truth=False,
        )
        self._write_info(info, log_times[0])
        self.sequences.append(info)
        return info

    def close(self):
        self._bag.close()

    def abort(self):
        self._bag.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------------------------------
# Where the sequences of an evaluation bag come from: a training-package dataset, or a video file.
#
# Datasets are read with the training package's own loaders (ausm_train.data,
# ausm_train.synthetic), so a bag holds exactly the frames and masks training and
# validation see. A plain video file has frames only.

log = logging.getLogger(__name__)

DATASETS = ("synthetic", "davis", "ytvos", "mose", "ytvis", "ovis", "sav")


def open_source(
    kind,
    root=None,
    split="train",
    annotations=None,
    images=None,
    resolution="480p",
    with_categories=False,
    videos=3,
    frames=24,
    size=(128, 128),
    seed=1000,
    min_objects=1,
    max_objects=4,
):
    """A VideoSource of the training package. Errors in the dataset itself (a wrong path,
    a broken index file) stop here with the loader's message."""
    from ausm_eval.errors import DatasetFormatError

    try:
        from ausm_train.data import DavisSource, MOSESource, OVISSource, SAVSource, YouTubeVISSource, YouTubeVOSSource
        from ausm_train.synthetic import SyntheticConfig, SyntheticVideoSource
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("ausm_train"):
            raise
        # A ROS install carries ausm, ausm_eval and ausm_ros, not the training package.
        raise BagError(
            f"writing the {kind} dataset to a bag needs the training package's loaders (ausm_train), "
            "which this install does not have: run it from the source checkout (`pip install -e .` there)"
        ) from error

    try:
        if kind == "synthetic":
            width, height = size
            config = SyntheticConfig(
                height=height, width=width, num_frames=frames, min_objects=min_objects, max_objects=max_objects
            )
            return SyntheticVideoSource(config, num_videos=videos, seed=seed)
        if kind == "davis":
            return DavisSource(root, split=split, resolution=resolution)
        if kind in ("ytvos", "mose"):
            factory = YouTubeVOSSource if kind == "ytvos" else MOSESource
            return factory(root, split=split, with_categories=with_categories)
        if kind in ("ytvis", "ovis"):
            factory = YouTubeVISSource if kind == "ytvis" else OVISSource
            return factory(annotations, images)
        if kind == "sav":
            return SAVSource(root)
    except (DatasetFormatError, ValueError, OSError) as error:
        raise BagError(f"cannot read the {kind} dataset: {error}") from error
    raise BagError(f"unknown dataset kind '{kind}' (choose from {', '.join(DATASETS)})")


def select_videos(source, names=None, limit=None):
    """Indices of the videos to write: the named ones (in the given order), else the first `limit`."""
    if names:
        known = {source.video_name(i): i for i in range(len(source))}
        missing = [n for n in names if n not in known]
        if missing:
            raise BagError(
                f"videos {missing} are not in the {source.name} dataset "
                f"(it has {len(known)}, e.g. {', '.join(list(known)[:5])})"
            )
        return [known[n] for n in names]
    count = len(source) if limit is None else min(limit, len(source))
    return list(range(count))


def load_clip(source, index, max_frames=None):
    """One video as a VideoClip, or None (logged) when the loader finds it corrupt."""
    from ausm_eval.errors import CorruptSampleError

    total = source.num_frames(index)
    frames = None if not max_frames or max_frames >= total else list(range(max_frames))
    try:
        return source.load(index, frames)
    except CorruptSampleError as error:
        log.warning("skipping video %s of %s: %s", source.video_name(index), source.name, error)
        return None


def video_frames(path, max_frames=None, size=None):
    """RGB frames of a video file (OpenCV), optionally resized to size=(W, H); and its frame rate."""
    path = Path(path)
    if not path.is_file():
        raise BagError(f"{path}: no such video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BagError(f"{path}: OpenCV cannot open this video (unknown container or codec)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0

    def frames():
        count = 0
        try:
            while max_frames is None or count < max_frames:
                ok, bgr = capture.read()
                if not ok:
                    break
                if size is not None:
                    bgr = cv2.resize(bgr, tuple(size), interpolation=cv2.INTER_AREA)
                count += 1
                yield bgr[..., ::-1].copy()
        finally:
            capture.release()
        if count == 0:
            raise BagError(f"{path}: no frame could be decoded")

    return frames(), fps

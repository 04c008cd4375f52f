"""Sequences (dataset clips with ground truth, or bare video frames) -> an evaluation bag.

See ausm_ros.bag.layout for the topics. Frame i of a sequence is stamped
first_stamp + i / fps (bag time and header stamp alike, unless stamps are given); each
sequence starts `sequence_gap_sec` after the previous one ends, so a node with the
default reset_on_gap_sec restarts its stream there.
"""

from dataclasses import dataclass

import numpy as np

from ausm_ros.bag import bag_messages as bm
from ausm_ros.bag import layout
from ausm_ros.bag.bag_writer import BagWriter
from ausm_ros.bag.errors import BagError

NS = bm.NS
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
        hdr = bm.header(stamp, opts.frame_id)
        if opts.image_format == "raw":
            self._bag.write(opts.camera_topic, layout.IMAGE, log_ns, bm.rgb_image(rgb, hdr))
        else:
            self._bag.write(
                opts.camera_topic,
                layout.COMPRESSED_IMAGE,
                log_ns,
                bm.compressed_rgb(rgb, hdr, opts.image_format, opts.jpeg_quality),
            )

    def _write_labels(self, labels, log_ns, stamp):
        hdr = bm.header(stamp, self.options.frame_id)
        if self.options.label_format == "raw":
            self._bag.write(self._topics["labels"], layout.IMAGE, log_ns, bm.label_image(labels, hdr))
        else:
            self._bag.write(self._topics["labels"], layout.COMPRESSED_IMAGE, log_ns, bm.compressed_labels(labels, hdr))

    def _write_info(self, info, first_log_ns):
        # Sequences are told apart by bag time: everything after this record (and before the
        # next one) belongs to this sequence, whatever the header stamps do.
        self._bag.write(self._topics["sequence"], layout.STRING, first_log_ns - 1, bm.string(info.to_json()))

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
                bm.label_info(bm.header(stamps[0], self.options.frame_id), class_names),
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
                            bm.object_prompt(
                                bm.header(stamp, self.options.frame_id),
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

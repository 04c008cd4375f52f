"""A replay's output bag read back: what was sent when, and what the node answered when.

Works on bags written by `ausm-bag-replay` and, with less bookkeeping, on any recording
of the node's topics (e.g. `ros2 bag record` next to `ros2 bag play`): without
/replay/published, outputs are matched to frames by stamp and latency is measured from
the header stamp to the bag time.
"""

import json
from dataclasses import dataclass, field
from typing import List, Optional

from ausm_ros.bag import bag_messages as bm
from ausm_ros.bag import layout
from ausm_ros.bag.bag_reader import BagFile
from ausm_ros.bag.errors import BagError


@dataclass
class Published:
    send_ns: int
    frame: int  # FrameRef.index in the input bag
    stamp_ns: int
    attempt: int


@dataclass
class ReplayRecord:
    path: str
    info: Optional[dict]
    instances: List[tuple] = field(default_factory=list)  # (receive_ns, InstanceSegmentation)
    published: List[Published] = field(default_factory=list)
    acks: List[tuple] = field(default_factory=list)  # (receive_ns, PromptAck)
    sent_prompts: List[tuple] = field(default_factory=list)  # (send_ns, ObjectPrompt)
    diagnostics: List[tuple] = field(default_factory=list)  # (receive_ns, {key: value}) of our stream

    @property
    def task(self):
        return (self.info or {}).get("task")


def read_record(path, stream=None, namespace=None, node_name=None, progress=None):
    """Read an output bag. stream / namespace / node_name default to what /replay/info says
    (else 'camera', '', 'ausm_perception')."""
    with BagFile(path) as bag:
        info = None
        if bag.has(layout.REPLAY_INFO):
            for message in bag.messages([layout.REPLAY_INFO]):
                try:
                    info = json.loads(message.msg.data)
                except ValueError as error:
                    raise BagError(
                        f"{path}: {layout.REPLAY_INFO} record {message.index} is not JSON: {error}"
                    ) from error
        stream = stream or (info or {}).get("stream") or "camera"
        namespace = namespace if namespace is not None else (info or {}).get("namespace", "")
        node_name = node_name or (info or {}).get("node_name") or "ausm_perception"
        topics = layout.stream_topics(stream, namespace)
        bag.require(topics["instances"], [layout.INSTANCES], what="output topic (the node's instances)")
        record = ReplayRecord(str(path), info)
        wanted = [
            topics["instances"],
            topics["prompt_ack"],
            topics["diagnostics"],
            layout.REPLAY_PUBLISHED,
            layout.REPLAY_PROMPTS,
        ]
        status_name = f"{node_name}: {stream}"
        total = sum(bag.count(t) for t in wanted)
        bar = progress(total=total, desc=f"reading {bag.path.name}", unit="msg") if progress else None
        for message in bag.messages(wanted):
            if bar:
                bar.update(1)
            topic, t = message.topic, message.log_ns
            if topic == topics["instances"]:
                record.instances.append((t, message.msg))
            elif topic == topics["prompt_ack"]:
                record.acks.append((t, message.msg))
            elif topic == topics["diagnostics"]:
                for status in message.msg.status:
                    if status.name == status_name:
                        record.diagnostics.append((t, {kv.key: kv.value for kv in status.values}))
            elif topic == layout.REPLAY_PUBLISHED:
                entry = json.loads(message.msg.data)
                record.published.append(
                    Published(t, int(entry["frame"]), int(entry["stamp_ns"]), int(entry.get("attempt", 0)))
                )
            elif topic == layout.REPLAY_PROMPTS:
                record.sent_prompts.append((t, message.msg))
        if bar:
            bar.close()
    return record


def output_stamp(msg):
    return bm.stamp_ns(msg.header.stamp)

"""Read rosbag2 bags (a bag directory, or a bare .mcap / .db3 file) with errors a person can act on.

rosbags reports problems in its own terms ("File end magic is invalid."); every such
error is re-raised here as a BagError that names the file and says what is wrong with
it in plain words. Reading all messages of a topic also checks their number against
the bag's index, so a cut-off file is not taken for a short recording.
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rosbags.rosbag2 import Reader

from ausm_ros.bag.errors import BagError
from ausm_ros.bag.typestore import typestore

_HINTS = (
    ("end magic is invalid", "the file is truncated (its MCAP footer is missing) or is not an MCAP file"),
    ("file magic is invalid", "the file does not start like an MCAP file (corrupt header or wrong file)"),
    ("truncated record", "the file is truncated or corrupt (a record runs past the end of its data)"),
    ("checksum mismatch", "the data is corrupt (a chunk's CRC-32 does not match its contents)"),
    ("chunk size mismatch", "the data is corrupt (a chunk decompresses to the wrong size)"),
    ("seems to be empty", "the file is empty"),
    ("database disk image is malformed", "the sqlite3 file is corrupt or truncated"),
    ("file is not a database", "the file is not an sqlite3 database (corrupt header or wrong file)"),
    ("metadata file", "the bag directory has no metadata.yaml"),
    ("some database files are missing", "a storage file listed in metadata.yaml is missing"),
)


def explain(error):
    text = str(error) or type(error).__name__
    for needle, hint in _HINTS:
        if needle in text.lower():
            return f"{hint} ({text.strip()})"
    return f"{type(error).__name__}: {text.strip()}"


@dataclass
class BagMessage:
    topic: str
    log_ns: int  # the bag's timestamp: receive time for recordings, the stamp for our datasets
    msgtype: str
    raw: bytes
    index: int  # position of this message in its topic, from 0
    _msg: object = None

    @property
    def msg(self):
        """The deserialized message (rosbags types), decoded on first use."""
        if self._msg is None:
            self._msg = typestore().deserialize_cdr(self.raw, self.msgtype)
        return self._msg


class BagFile:
    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag (expected a rosbag2 directory, or an .mcap or .db3 file)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as error:
            raise BagError(f"{self._where()}: cannot open the bag: {explain(error)}") from error
        self.topics = {}
        for connection in self._reader.connections:
            msgtype, count = self.topics.get(connection.topic, (connection.msgtype, 0))
            self.topics[connection.topic] = (msgtype, count + connection.msgcount)

    def _where(self):
        """The bag, and its one storage file when there is just one: the file to look at."""
        if self.path.is_dir():
            files = sorted(p.name for p in self.path.iterdir() if p.suffix in (".mcap", ".db3", ".zstd"))
            if len(files) == 1:
                return f"{self.path}/{files[0]}"
        return str(self.path)

    def close(self):
        if getattr(self, "_reader", None) is not None and self._reader.is_open:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- topics -----------------------------------------------------------------------------
    def describe_topics(self):
        return ", ".join(f"{t} ({m.split('/')[-1]}, {c})" for t, (m, c) in sorted(self.topics.items())) or "none"

    def has(self, topic):
        return topic in self.topics

    def require(self, topic, msgtypes=None, what="topic"):
        """The topic's type; a BagError naming the missing topic (and what is there) otherwise."""
        if topic not in self.topics:
            raise BagError(f"{self.path}: no {what} '{topic}' in this bag (topics: {self.describe_topics()})")
        msgtype = self.topics[topic][0]
        if msgtypes and msgtype not in msgtypes:
            raise BagError(f"{self.path}: topic '{topic}' has type {msgtype}, expected {' or '.join(msgtypes)}")
        return msgtype

    def topics_of_type(self, msgtypes):
        return sorted(t for t, (m, _) in self.topics.items() if m in msgtypes)

    def count(self, topic):
        return self.topics.get(topic, ("", 0))[1]

    # -- messages -----------------------------------------------------------------------------
    def messages(self, topics):
        """BagMessage of the given topics in bag-time order. Reading to the end also checks
        each topic's message count against the bag's index (truncation)."""
        topics = [t for t in topics if t in self.topics]
        connections = [c for c in self._reader.connections if c.topic in topics]
        seen = {t: 0 for t in topics}
        if connections:
            iterator = self._reader.messages(connections=connections)
            while True:
                try:
                    connection, log_ns, raw = next(iterator)
                except StopIteration:
                    break
                except (Exception, sqlite3.Error) as error:
                    where = ", ".join(f"{t} {n}" for t, n in seen.items())
                    raise BagError(
                        f"{self._where()}: cannot read the messages (read so far: {where}): {explain(error)}"
                    ) from error
                message = BagMessage(connection.topic, log_ns, connection.msgtype, raw, seen[connection.topic])
                seen[connection.topic] += 1
                try:
                    message.msg  # noqa: B018 - decode now, so a corrupt message is named where it is
                except Exception as error:
                    raise BagError(
                        f"{self._where()}: message {message.index} on {connection.topic} "
                        f"(bag time {log_ns / 1e9:.6f} s) cannot be decoded as {connection.msgtype}: "
                        f"{explain(error)}"
                    ) from error
                yield message
        for topic, n in seen.items():
            expected = self.count(topic)
            if n != expected:
                raise BagError(
                    f"{self._where()}: topic '{topic}' holds {n} messages but the bag's index lists "
                    f"{expected}: the bag is truncated or corrupt"
                )

"""Write rosbag2 bags (mcap or sqlite3) through rosbags, one connection per topic."""

import shutil
import threading
from pathlib import Path

from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from ausm_ros.bag.errors import BagError
from ausm_ros.bag.mcap_crc import add_chunk_crcs
from ausm_ros.bag.typestore import typestore

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

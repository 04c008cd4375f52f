"""Fill in the chunk checksums of an MCAP file that rosbags wrote without them.

MCAP chunks carry a CRC-32 of their uncompressed records; rosbags writes 0 there
("no checksum"), so flipped bytes inside image data would go unnoticed. Readers
(rosbags, the mcap library, ros2 bag) verify a non-zero CRC, so adding it after the
file is closed makes corruption anywhere in the message data a clear read error.
"""

import struct
from binascii import crc32

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

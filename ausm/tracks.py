"""ID lifecycle for one stream: which ID-buffer slots are in use, by which external track id.

``TrackTable`` is the one owner of it: slots are allocated, refreshed, reported and
released, and track ids handed out, only through its methods (the session reads it and
asks it to change; nothing else writes into it).

Beyond the paper (which never frees an ID, so a long stream would exhaust the buffer):
an object absent for more than ``release_after_frames`` consecutive frames (a session
setting) is released and
its slot goes to the back of a FIFO free list (so a freshly freed ID vector is the last
to be reused, giving the compressor's memory of it time to fade). External track ids are
uint32, assigned in increasing order and never repeated within a stream, not even across
``reset``; 0 is reserved for "background" in label images.
"""

from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

MAX_TRACK_ID = 2**32 - 1


def check_track_id_type(track_id) -> None:
    """A track id given by a caller must be an integer (bool is not)."""
    if isinstance(track_id, bool) or not isinstance(track_id, (int, np.integer)):
        raise ValueError(f"object id must be an integer, got {track_id!r}")


class TrackTable:
    def __init__(self, num_slots: int):
        self.num_slots = num_slots
        self._next_id = 1
        self._reserved = set()  # ids a caller asked for that are >= next_id: never auto-assigned
        self._clear_slots()

    def _clear_slots(self) -> None:
        n = self.num_slots
        self._slot_track = np.zeros(n, dtype=np.uint32)  # 0 = free slot
        self._absent = np.zeros(n, dtype=np.int64)  # consecutive frames absent
        self._slot_class = np.full(n, -1, dtype=np.int64)  # class given by a prompt
        self._reported = np.zeros(n, dtype=bool)  # track already in some FrameResult
        self._prompted = np.zeros(n, dtype=bool)  # started by a caller's prompt, not discovery
        self._free: List[int] = list(range(n))

    # -- queries -----------------------------------------------------------------
    @property
    def active(self) -> np.ndarray:
        """bool [num_slots]: slots holding a track."""
        return self._slot_track != 0

    @property
    def prompted_slots(self) -> np.ndarray:
        """bool [num_slots]: slots holding a track started by a prompt."""
        return self.active & self._prompted

    @property
    def free(self) -> Tuple[int, ...]:
        """Free slots, in the order they will be allocated."""
        return tuple(self._free)

    @property
    def next_id(self) -> int:
        """The lowest track id never handed out (reserved ids above it aside)."""
        return self._next_id

    def num_free(self) -> int:
        return len(self._free)

    def slot_of(self, track_id: int) -> Optional[int]:
        hits = np.flatnonzero(self._slot_track == np.uint32(track_id))
        return int(hits[0]) if len(hits) else None

    def track_id_of(self, slot: int) -> int:
        """The track id in ``slot`` (0: free)."""
        return int(self._slot_track[slot])

    def class_of(self, slot: int) -> int:
        """The class a prompt gave the track in ``slot``, -1 when none."""
        return int(self._slot_class[slot])

    def prompted(self, slot: int) -> bool:
        """Whether the track in ``slot`` was started by a prompt (else by discovery)."""
        return bool(self._prompted[slot])

    def active_ids(self) -> List[int]:
        return [int(t) for t in self._slot_track[self.active]]

    # -- track ids ---------------------------------------------------------------
    def check_requested_id(self, track_id: int) -> None:
        check_track_id_type(track_id)
        if not 1 <= int(track_id) <= MAX_TRACK_ID:
            raise ValueError(f"object id {track_id} out of range 1..{MAX_TRACK_ID}")
        if self.slot_of(track_id) is not None:
            raise ValueError(f"object id {track_id} is already tracked")
        # Ids below next_id were all handed out (assigned, or requested and then skipped);
        # reserved ones were requested. Either way a consumer may still hold them.
        if int(track_id) < self._next_id or int(track_id) in self._reserved:
            raise ValueError(
                f"object id {track_id} was already used in this stream and is never reused "
                f"(unused ids start at {self._next_id})"
            )

    def new_track_id(self, requested: Optional[int] = None) -> int:
        """Reserve a track id: ``requested`` if given (and not in use), else the next unused."""
        if requested is not None:
            self.check_requested_id(requested)
            if requested >= self._next_id:
                self._reserved.add(int(requested))
            return int(requested)
        while self._next_id in self._reserved:
            self._reserved.discard(self._next_id)
            self._next_id += 1
        if self._next_id > MAX_TRACK_ID:
            raise RuntimeError("track id space (uint32) exhausted for this stream")
        tid = self._next_id
        self._next_id += 1
        return tid

    def id_counter(self) -> Dict:
        """The track ids this stream has used, to persist (see ``continue_ids_after``)."""
        return {"next_id": int(self._next_id), "reserved": sorted(int(r) for r in self._reserved)}

    def continue_ids_after(self, counter: Dict) -> None:
        """Assign ids only above those recorded in ``counter`` (from ``id_counter``)."""
        self._next_id = max(self._next_id, int(counter["next_id"]))
        self._reserved |= {int(r) for r in counter.get("reserved", ()) if int(r) >= self._next_id}

    # -- slots -------------------------------------------------------------------
    def allocate(self, track_id: int, class_id: int = -1, prompted: bool = False) -> int:
        """Give ``track_id`` the next free slot; returns the slot."""
        if not self._free:
            raise RuntimeError("no free ID slot")
        slot = self._free.pop(0)
        self._slot_track[slot] = track_id
        self._absent[slot] = 0
        self._slot_class[slot] = class_id
        self._reported[slot] = False
        self._prompted[slot] = prompted
        return slot

    def refresh(self, slot: int, class_id: int = -1) -> None:
        """A prompt refined the track in ``slot``: present now, and its class if >= 0."""
        self._absent[slot] = 0
        if class_id >= 0:
            self._slot_class[slot] = class_id

    def release(self, slot: int) -> None:
        self._slot_track[slot] = 0
        self._absent[slot] = 0
        self._slot_class[slot] = -1
        self._reported[slot] = False
        self._prompted[slot] = False
        self._free.append(int(slot))

    def update_presence(self, present: np.ndarray, release_after_frames: int) -> List[Tuple[int, int]]:
        """present: bool [num_slots]. A track absent more than ``release_after_frames`` frames
        in a row is released. Returns the (slot, track_id) pairs released now."""
        act = self.active
        self._absent[act & present] = 0
        self._absent[act & ~present] += 1
        released = []
        for slot in np.flatnonzero(act & (self._absent > release_after_frames)):
            released.append((int(slot), int(self._slot_track[slot])))
            self.release(slot)
        return released

    def mark_reported(self, slots: Iterable[int]) -> np.ndarray:
        """The tracks in ``slots`` are in a result now; returns bool per slot: first time."""
        slots = np.asarray(list(slots), dtype=np.int64)
        first = ~self._reported[slots]
        self._reported[slots] = True
        return first

    def reset(self) -> None:
        """Free every slot; the id counter goes on (ids are never reused within a stream)."""
        self._clear_slots()

    # -- persistence -------------------------------------------------------------
    def to_dict(self) -> Dict:
        return {
            "num_slots": self.num_slots,
            "slot_track": self._slot_track.tolist(),
            "absent": self._absent.tolist(),
            "slot_class": self._slot_class.tolist(),
            "reported": self._reported.tolist(),
            "prompted": self._prompted.tolist(),
            "free": list(self._free),
            "next_id": self._next_id,
            "reserved": sorted(self._reserved),
        }

    @classmethod
    def from_dict(cls, d: Dict) -> "TrackTable":
        t = cls(d["num_slots"])  # older snapshots also hold a release limit: the settings decide it
        t._slot_track = np.array(d["slot_track"], dtype=np.uint32)
        t._absent = np.array(d["absent"], dtype=np.int64)
        t._slot_class = np.array(d["slot_class"], dtype=np.int64)
        t._reported = np.array(d["reported"], dtype=bool)
        # snapshots from before the flag: every track counts as discovered
        t._prompted = np.array(d.get("prompted", [False] * t.num_slots), dtype=bool)
        t._free = [int(s) for s in d["free"]]
        t._next_id = int(d["next_id"])
        t._reserved = set(int(r) for r in d["reserved"])
        return t

    def copy(self) -> "TrackTable":
        return TrackTable.from_dict(self.to_dict())

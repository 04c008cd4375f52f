"""ID lifecycle for one stream: which ID-buffer slots are in use, by which external track id.

Beyond the paper (which never frees an ID, so a long stream would exhaust the buffer):
an object absent for more than ``max_absent_frames`` consecutive frames is released and
its slot goes to the back of a FIFO free list (so a freshly freed ID vector is the last
to be reused, giving the compressor's memory of it time to fade). External track ids are
uint32, assigned in increasing order and never repeated within a stream; 0 is reserved
for "background" in label images.
"""

import numpy as np

MAX_TRACK_ID = 2**32 - 1


class TrackTable:
    def __init__(self, num_slots, max_absent_frames=30):
        self.num_slots = num_slots
        self.max_absent_frames = max_absent_frames
        self.slot_track = np.zeros(num_slots, dtype=np.uint32)  # 0 = free slot
        self.absent = np.zeros(num_slots, dtype=np.int64)
        self.slot_class = np.full(num_slots, -1, dtype=np.int64)  # class given by a prompt
        self.reported = np.zeros(num_slots, dtype=bool)  # track already in some FrameResult
        self.free = list(range(num_slots))
        self.next_id = 1
        self.reserved = set()  # ids a caller asked for that are >= next_id: never auto-assigned

    # -- queries -----------------------------------------------------------------
    @property
    def active(self):
        return self.slot_track != 0

    def num_free(self):
        return len(self.free)

    def slot_of(self, track_id):
        hits = np.flatnonzero(self.slot_track == np.uint32(track_id))
        return int(hits[0]) if len(hits) else None

    def active_ids(self):
        return [int(t) for t in self.slot_track[self.active]]

    # -- changes -----------------------------------------------------------------
    def check_requested_id(self, track_id):
        if isinstance(track_id, bool) or not isinstance(track_id, (int, np.integer)):
            raise ValueError(f"object id must be an integer, got {track_id!r}")
        if not 1 <= int(track_id) <= MAX_TRACK_ID:
            raise ValueError(f"object id {track_id} out of range 1..{MAX_TRACK_ID}")
        if self.slot_of(track_id) is not None:
            raise ValueError(f"object id {track_id} is already tracked")
        # Ids below next_id were all handed out (assigned, or requested and then skipped);
        # reserved ones were requested. Either way a consumer may still hold them.
        if int(track_id) < self.next_id or int(track_id) in self.reserved:
            raise ValueError(
                f"object id {track_id} was already used in this stream and is never reused "
                f"(unused ids start at {self.next_id})"
            )

    def new_track_id(self, requested=None):
        """Reserve a track id: ``requested`` if given (and not in use), else the next unused."""
        if requested is not None:
            self.check_requested_id(requested)
            if requested >= self.next_id:
                self.reserved.add(int(requested))
            return int(requested)
        while self.next_id in self.reserved:
            self.reserved.discard(self.next_id)
            self.next_id += 1
        if self.next_id > MAX_TRACK_ID:
            raise RuntimeError("track id space (uint32) exhausted for this stream")
        tid = self.next_id
        self.next_id += 1
        return tid

    def allocate(self, track_id, class_id=-1):
        if not self.free:
            raise RuntimeError("no free ID slot")
        slot = self.free.pop(0)
        self.slot_track[slot] = track_id
        self.absent[slot] = 0
        self.slot_class[slot] = class_id
        self.reported[slot] = False
        return slot

    def release(self, slot):
        self.slot_track[slot] = 0
        self.absent[slot] = 0
        self.slot_class[slot] = -1
        self.reported[slot] = False
        self.free.append(int(slot))

    def update_presence(self, present, max_absent_frames=None):
        """present: bool [num_slots]. Returns the (slot, track_id) pairs released now."""
        limit = self.max_absent_frames if max_absent_frames is None else max_absent_frames
        act = self.active
        self.absent[act & present] = 0
        self.absent[act & ~present] += 1
        released = []
        for slot in np.flatnonzero(act & (self.absent > limit)):
            released.append((int(slot), int(self.slot_track[slot])))
            self.release(slot)
        return released

    # -- persistence -------------------------------------------------------------
    def to_dict(self):
        return {
            "num_slots": self.num_slots,
            "max_absent_frames": self.max_absent_frames,
            "slot_track": self.slot_track.tolist(),
            "absent": self.absent.tolist(),
            "slot_class": self.slot_class.tolist(),
            "reported": self.reported.tolist(),
            "free": list(self.free),
            "next_id": self.next_id,
            "reserved": sorted(self.reserved),
        }

    @classmethod
    def from_dict(cls, d):
        t = cls(d["num_slots"], d["max_absent_frames"])
        t.slot_track = np.array(d["slot_track"], dtype=np.uint32)
        t.absent = np.array(d["absent"], dtype=np.int64)
        t.slot_class = np.array(d["slot_class"], dtype=np.int64)
        t.reported = np.array(d["reported"], dtype=bool)
        t.free = [int(s) for s in d["free"]]
        t.next_id = int(d["next_id"])
        t.reserved = set(int(r) for r in d["reserved"])
        return t

    def copy(self):
        return TrackTable.from_dict(self.to_dict())

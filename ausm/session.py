"""Streaming inference for one camera stream.

``StreamSession`` owns everything that persists between frames of a stream: the
model's recurrent state (previous X, per-layer SSM and conv states), the history masks
of the allocated IDs, the ID/track table, and pending prompts. ``step(frame)`` advances
one frame at constant time and memory.

Semantics (beyond the paper, documented here because a robot depends on them):
  * Frames are fitted into the model input (``config.input_size``, or the first frame's
    size rounded to /32 when that is null; later frames go to the same grid so the state
    never changes shape) without distortion: scaled by one factor and padded
    (``ausm.letterbox``). Outputs are at the frame's own size.
  * Prompts are queued and applied at the start of the next ``step``: their masks are
    painted into that frame's history (see ``ausm.prompts``). RESET acts at once.
  * A tracked object is present when its objectness > ``presence_threshold`` and its
    mask is non-empty; its mask becomes its history mark for the next frame. Absent
    more than ``max_absent_frames`` frames in a row -> released: marks cleared, slot
    back to the free list. Track ids (uint32) are never reused within a stream, not even
    across RESET.
  * Discovery (``discovery=True``): detection queries with objectness >
    ``score_threshold``, best first, at most ``top_k`` per frame, whose mask is not
    mostly (> ``new_object_max_overlap``) covered by already tracked objects, get fresh
    IDs from the free list.
  * Any invalid input raises ValueError naming the problem, before any state changes.
"""

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .letterbox import Letterbox
from .prompts import Prompt, PromptAction, rasterise
from .tracks import TrackTable

SNAPSHOT_FORMAT = "ausm-session/1"


@dataclass
class SessionSettings:
    discovery: bool = True  # find new objects without prompts
    score_threshold: float = 0.5  # objectness for a detection to become a track
    presence_threshold: float = 0.5  # objectness for a tracked object to count as present
    mask_threshold: float = 0.0  # mask logit threshold (0 = probability 0.5)
    top_k: int = 10  # most new objects started in one frame
    max_absent_frames: int = 30  # release an object after this many absent frames
    new_object_max_overlap: float = 0.5  # skip detections mostly covered by tracked objects
    class_head: Optional[str] = None  # dataset head for class ids (None: the first)
    point_radius: Optional[float] = None  # px; None: max(4, 2.5% of the shorter side)


@dataclass
class FrameResult:
    frame_index: int
    image_size: tuple  # (H, W) of the input frame
    track_ids: np.ndarray  # uint32 [K]
    masks: np.ndarray  # bool [K, H, W]
    boxes: np.ndarray  # float32 [K, 4], x1 y1 x2 y2 in pixels (x2, y2 exclusive)
    class_ids: np.ndarray  # int64 [K], -1 when unknown
    scores: np.ndarray  # float32 [K], objectness probability
    is_new: np.ndarray  # bool [K], first frame this track is reported
    released_track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    class_probs: np.ndarray = None  # float32 [K, C], softmax of the class head (video AP scores every class)

    def __len__(self):
        return len(self.track_ids)

    @property
    def new_track_ids(self):
        return self.track_ids[self.is_new]

    def label_image(self, dtype=np.uint32):
        """[H, W] track id per pixel, 0 = background; overlaps go to the higher score."""
        out = np.zeros(self.image_size, dtype=dtype)
        for k in np.argsort(self.scores, kind="stable"):
            out[self.masks[k]] = self.track_ids[k]
        return out


def frame_to_tensor(frame):
    """Validate an HxWx3 RGB frame (uint8, or float in [0, 1]) -> [1, 3, H, W] float32."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3:
        raise ValueError(f"frame must be HxWx3 RGB, got shape {frame.shape}")
    if frame.shape[2] != 3:
        raise ValueError(f"frame must have 3 channels (RGB), got {frame.shape[2]}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty: shape {frame.shape}")
    if frame.dtype == np.uint8:
        # torch.tensor copies, so read-only buffers (ROS messages, decoded video) need no warning
        t = torch.tensor(frame).float().div_(255.0)
    elif frame.dtype in (np.float32, np.float64, np.float16):
        if not np.isfinite(frame).all():
            raise ValueError("frame contains NaN or infinite values")
        if frame.min() < 0 or frame.max() > 1:
            raise ValueError("float frames must be in [0, 1]")
        t = torch.tensor(frame, dtype=torch.float32)
    else:
        raise ValueError(f"frame dtype must be uint8 (or float in [0, 1]), got {frame.dtype}")
    return t.permute(2, 0, 1).unsqueeze(0)


def boxes_from_masks(masks):
    """masks: bool [K, H, W] -> float32 [K, 4] tight xyxy boxes (x2, y2 exclusive)."""
    K = masks.shape[0]
    out = np.zeros((K, 4), dtype=np.float32)
    for k in range(K):
        rows, cols = np.flatnonzero(masks[k].any(1)), np.flatnonzero(masks[k].any(0))
        if len(rows):
            out[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out


class StreamSession:
    def __init__(self, model, settings=None, **overrides):
        self.model = model.eval()
        self.config = model.config
        self.device = next(model.parameters()).device
        self.settings = dataclasses.replace(settings or SessionSettings(), **overrides)
        if self.settings.class_head is None:
            self.settings.class_head = next(iter(self.config.num_classes))
        if self.settings.class_head not in self.config.num_classes:
            raise ValueError(f"class_head '{self.settings.class_head}' not in {sorted(self.config.num_classes)}")
        self.tracks = TrackTable(self.config.num_ids, self.settings.max_absent_frames)
        self._reset_stream()

    def _reset_stream(self):
        self.frame_index = 0
        self.model_hw = None  # fixed by the first frame
        self.image_hw = None  # size of the last frame
        self._state = None  # the model's recurrent state (list of tensors)
        self._masks = None  # history masks [num_ids, H/4, W/4]
        self._pending = []

    # -- prompts -----------------------------------------------------------------
    def prompt(self, p: Prompt):
        """Queue a prompt for the next frame; returns the object id it concerns
        (assigned for ADD without an id), None for RESET."""
        try:
            action = PromptAction(p.action)
        except ValueError:
            raise ValueError(f"unknown prompt action {p.action!r}") from None
        if p.object_id is not None and (
            isinstance(p.object_id, bool) or not isinstance(p.object_id, (int, np.integer))
        ):
            raise ValueError(f"object id must be an integer, got {p.object_id!r}")
        if action == PromptAction.RESET:
            self.reset()
            return None
        pending_adds = {q["track_id"] for q in self._pending if q["action"] == PromptAction.ADD}
        pending_removes = {q["track_id"] for q in self._pending if q["action"] == PromptAction.REMOVE}
        if action in (PromptAction.REFINE, PromptAction.REMOVE):
            if p.object_id is None:
                raise ValueError(f"{action.name} needs an object id")
            known = self.tracks.slot_of(p.object_id) is not None or p.object_id in pending_adds
            if not known or p.object_id in pending_removes:
                raise ValueError(f"unknown object id {p.object_id}")
        if action == PromptAction.REMOVE:
            self._pending.append({"action": action, "track_id": int(p.object_id)})
            return int(p.object_id)

        hw = self._prompt_image_size(p)
        base, add, remove = rasterise(p, hw, self.settings.point_radius)
        if base is None and add is None and remove is None:
            raise ValueError(f"{action.name} prompt needs a mask, a box or points")
        if action == PromptAction.ADD:
            if base is None and add is None:
                raise ValueError("ADD prompt has only negative points: nothing selects the object")
            sel = base if base is not None else add
            if remove is not None:
                sel = sel * (1 - remove)
            if not sel.any():
                raise ValueError("ADD prompt selects no pixels")
            if self.tracks.num_free() - len(pending_adds) + len(pending_removes) <= 0:
                raise ValueError(f"no free ID slot: all {self.config.num_ids} IDs are tracking objects")
            if p.object_id is not None and p.object_id in pending_adds:
                raise ValueError(f"object id {p.object_id} is already tracked")
            track_id = self.tracks.new_track_id(p.object_id)
        else:
            track_id = int(p.object_id)
        if p.class_id is not None and not isinstance(p.class_id, (int, np.integer)):
            raise ValueError(f"class_id must be an integer, got {p.class_id!r}")
        self._pending.append(
            {
                "action": action,
                "track_id": track_id,
                "base": base,
                "add": add,
                "remove": remove,
                "class_id": -1 if p.class_id is None else int(p.class_id),
            }
        )
        return track_id

    def _prompt_image_size(self, p):
        if p.image_size is not None:
            hw = tuple(int(v) for v in p.image_size)
            if len(hw) != 2 or min(hw) <= 0:
                raise ValueError(f"image_size must be (H, W) > 0, got {p.image_size}")
            return hw
        if self.image_hw is not None:
            return self.image_hw
        if p.mask is not None and np.ndim(p.mask) >= 2:
            return tuple(np.shape(p.mask)[:2])
        raise ValueError("prompt coordinates need an image size: give image_size, or prompt after the first frame")

    def add_object(
        self, mask=None, box=None, points=None, point_labels=None, object_id=None, class_id=None, image_size=None
    ):
        return self.prompt(Prompt(PromptAction.ADD, object_id, mask, box, points, point_labels, class_id, image_size))

    def refine_object(
        self, object_id, mask=None, box=None, points=None, point_labels=None, class_id=None, image_size=None
    ):
        return self.prompt(
            Prompt(PromptAction.REFINE, object_id, mask, box, points, point_labels, class_id, image_size)
        )

    def remove_object(self, object_id):
        return self.prompt(Prompt(PromptAction.REMOVE, object_id))

    def reset(self):
        """Forget the stream (state, tracks, pending prompts). Track ids keep counting up."""
        old = self.tracks
        self.tracks = TrackTable(self.config.num_ids, self.settings.max_absent_frames)
        self.tracks.next_id, self.tracks.reserved = old.next_id, set(old.reserved)
        self._reset_stream()

    def id_counter(self) -> dict:
        """The track ids this stream has used, to persist: a restarted stream given it by
        ``continue_ids_after`` never hands out one of them again."""
        return {"next_id": int(self.tracks.next_id), "reserved": sorted(int(r) for r in self.tracks.reserved)}

    def continue_ids_after(self, counter: dict):
        """Assign ids only above those recorded in ``counter`` (from ``id_counter``)."""
        self.tracks.next_id = max(self.tracks.next_id, int(counter["next_id"]))
        self.tracks.reserved |= {int(r) for r in counter.get("reserved", ()) if int(r) >= self.tracks.next_id}

    # -- the frame step ------------------------------------------------------------
    @torch.inference_mode()
    def step(self, frame) -> FrameResult:
        image = frame_to_tensor(frame)
        H, W = image.shape[-2:]
        model_hw = self.model_hw or self.config.model_size((H, W))
        mh, mw = self.model.mask_size(model_hw)
        fit = Letterbox((H, W), tuple(model_hw))
        image = image.to(self.device)
        if not fit.is_identity:
            fill = torch.tensor(self.config.pixel_mean, device=self.device).view(1, 3, 1, 1) / 255.0
            image = fit.image_to_model(image, fill)

        # work on copies, committed at the end: a failure leaves the session as it was
        tracks = self.tracks.copy()
        state = self._state or self.model.initial_state(1, model_hw, self.device)
        masks = (
            self._masks.clone()
            if self._masks is not None
            else torch.zeros(self.config.num_ids, mh, mw, device=self.device)
        )
        released = self._apply_prompts(tracks, masks, (mh, mw), fit)

        valid = torch.from_numpy(tracks.active).to(self.device)
        slots = torch.arange(self.config.num_ids, device=self.device)
        out, state = self.model.step(image, state, slots[None], masks[None], valid[None])
        result, masks, more_released = self._ingest(out, tracks, valid, fit)
        released += more_released

        self.tracks, self._state, self._masks = tracks, state, masks
        self.model_hw, self.image_hw = tuple(model_hw), (H, W)
        self._pending = []
        self.frame_index += 1
        result.released_track_ids = np.array(released, dtype=np.uint32)
        return result

    def _apply_prompts(self, tracks, masks, grid, fit):
        released = []
        to_grid = lambda a: None if a is None else fit.mask_to_grid(torch.from_numpy(a), grid).to(masks.device)
        for q in self._pending:
            if q["action"] == PromptAction.REMOVE:
                slot = tracks.slot_of(q["track_id"])
                if slot is not None:
                    tracks.release(slot)
                    masks[slot] = 0
                    released.append(q["track_id"])
                continue
            if q["action"] == PromptAction.ADD:
                if not tracks.num_free():  # cannot happen via prompt(); never wedge the stream
                    continue
                slot = tracks.allocate(q["track_id"], q["class_id"])
                current = torch.zeros(grid, device=masks.device)
            else:
                slot = tracks.slot_of(q["track_id"])
                if slot is None:  # released between the prompt and this frame
                    continue
                current = masks[slot]
                tracks.absent[slot] = 0
                if q["class_id"] >= 0:
                    tracks.slot_class[slot] = q["class_id"]
            base, add, remove = to_grid(q["base"]), to_grid(q["add"]), to_grid(q["remove"])
            m = current if base is None else base
            if add is not None:
                m = torch.maximum(m, add)
            if remove is not None:
                m = m * (1 - remove)
            masks[slot] = m
        return released

    def _ingest(self, out, tracks, valid, fit):
        """Model outputs -> tracks update, next history masks, and the FrameResult."""
        s = self.settings
        S = self.config.num_ids
        logits = out["mask_logits"][0]  # [Q, h, w]
        obj = out["objectness_logits"][0].sigmoid()  # [Q]
        fg = logits > s.mask_threshold
        present = valid & (obj[:S] > s.presence_threshold) & fg[:S].flatten(1).any(1)
        next_masks = fg[:S].float() * present[:, None, None]
        released = [tid for _, tid in tracks.update_presence(present.cpu().numpy(), s.max_absent_frames)]
        rows = [int(r) for r in torch.nonzero(present).flatten()]  # ID rows = slots
        slots = list(rows)

        if s.discovery and tracks.num_free():
            occupied = next_masks.amax(0) > 0 if S else torch.zeros_like(fg[0])
            det = obj[S:]
            cand = torch.nonzero(det > s.score_threshold).flatten()
            cand = cand[torch.argsort(det[cand], descending=True, stable=True)][: s.top_k]
            for q in cand.tolist():
                m = fg[S + q]
                area = int(m.sum())
                if area == 0 or int((m & occupied).sum()) > s.new_object_max_overlap * area:
                    continue
                if not tracks.num_free():
                    break
                tid = tracks.new_track_id()
                slot = tracks.allocate(tid)
                next_masks[slot] = m.float()
                occupied |= m
                rows.append(S + q)
                slots.append(slot)

        return self._result(out, rows, slots, tracks, fit), next_masks, released

    def _result(self, out, rows, slots, tracks, fit):
        H, W = fit.image_hw
        s = self.settings
        if rows:
            r = torch.tensor(rows, device=self.device)
            big = fit.grid_to_image(out["mask_logits"][0, r])
            masks = (big > s.mask_threshold).cpu().numpy()
            scores = out["objectness_logits"][0, r].sigmoid().cpu().numpy().astype(np.float32)
            class_logits = out["class_logits"][s.class_head][0, r].float()
            classes = class_logits.argmax(-1).cpu().numpy()
            probs = class_logits.softmax(-1).cpu().numpy().astype(np.float32)
        else:
            masks = np.zeros((0, H, W), dtype=bool)
            scores, classes = np.zeros(0, np.float32), np.zeros(0, np.int64)
            probs = np.zeros((0, self.config.num_classes[s.class_head]), np.float32)
        tids = np.array([tracks.slot_track[sl] for sl in slots], dtype=np.uint32)
        override = np.array([tracks.slot_class[sl] for sl in slots], dtype=np.int64)
        classes = np.where(override >= 0, override, classes).astype(np.int64)
        keep = masks.any(axis=(1, 2))  # a speck may vanish when downsized
        order = np.argsort(tids[keep], kind="stable")
        pick = lambda a: a[keep][order]
        masks, shown = pick(masks), pick(np.array(slots, dtype=np.int64))
        is_new = ~tracks.reported[shown]  # first frame this track is reported
        tracks.reported[shown] = True
        return FrameResult(
            frame_index=self.frame_index,
            image_size=(H, W),
            track_ids=pick(tids),
            masks=masks,
            boxes=boxes_from_masks(masks),
            class_ids=pick(classes),
            scores=pick(scores),
            is_new=is_new,
            class_probs=pick(probs),
        )

    # -- state size and persistence --------------------------------------------------
    def state_bytes(self):
        """Bytes of recurrent state this stream holds (model state + history masks)."""
        tensors = (self._state or []) + ([self._masks] if self._masks is not None else [])
        return sum(t.numel() * t.element_size() for t in tensors)

    def snapshot(self, path):
        """Write the full session state to one safetensors file (tensors + JSON metadata)."""
        tensors = {f"state.{i}": t.detach().cpu().contiguous() for i, t in enumerate(self._state or [])}
        if self._masks is not None:
            tensors["history_masks"] = self._masks.cpu().contiguous()
        pending = []
        for i, q in enumerate(self._pending):
            meta = {
                "action": int(q["action"]),
                "track_id": q["track_id"],
                "class_id": q.get("class_id", -1),
                "rasters": [],
            }
            for k in ("base", "add", "remove"):
                if q.get(k) is not None:
                    tensors[f"pending.{i}.{k}"] = torch.from_numpy(q[k]).contiguous()
                    meta["rasters"].append(k)
            pending.append(meta)
        meta = {
            "format": SNAPSHOT_FORMAT,
            "model_config": self.config.to_dict(),
            "settings": dataclasses.asdict(self.settings),
            "tracks": self.tracks.to_dict(),
            "frame_index": self.frame_index,
            "model_hw": self.model_hw,
            "image_hw": self.image_hw,
            "num_state": len(self._state or []),
            "pending": pending,
        }
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"ausm_session": json.dumps(meta)})
            os.replace(tmp, path)  # never leave a half-written snapshot under the real name
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def restore(self, path):
        """Load a snapshot written by ``snapshot``; the stream continues bit-identically."""
        try:
            with safe_open(os.fspath(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("ausm_session", "null"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read session snapshot {path}: {e}") from e
        except Exception as e:  # safetensors raises its own error type on corrupt files
            raise ValueError(f"cannot read session snapshot {path}: {e}") from e
        if not meta or meta.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{path} is not an AUSM session snapshot ({SNAPSHOT_FORMAT})")
        try:  # through ModelConfig: a snapshot from before a config key was dropped still compares
            taken = ModelConfig.from_dict(meta["model_config"]).to_dict()
        except (TypeError, ValueError) as e:
            raise ValueError(f"snapshot was taken with a model config this version cannot build: {e}") from e
        if taken != self.config.to_dict():
            diff = sorted(k for k in taken if taken[k] != self.config.to_dict().get(k))
            raise ValueError(f"snapshot was taken with a different model config (differs in {diff})")
        self.settings = SessionSettings(**meta["settings"])
        self.tracks = TrackTable.from_dict(meta["tracks"])
        self.frame_index = meta["frame_index"]
        self.model_hw = tuple(meta["model_hw"]) if meta["model_hw"] else None
        self.image_hw = tuple(meta["image_hw"]) if meta["image_hw"] else None
        self._state = [tensors[f"state.{i}"].to(self.device) for i in range(meta["num_state"])] or None
        self._masks = tensors["history_masks"].to(self.device) if "history_masks" in tensors else None
        self._pending = []
        for i, q in enumerate(meta["pending"]):
            item = {
                "action": PromptAction(q["action"]),
                "track_id": q["track_id"],
                "class_id": q["class_id"],
                "base": None,
                "add": None,
                "remove": None,
            }
            for k in q["rasters"]:
                item[k] = tensors[f"pending.{i}.{k}"].numpy()
            self._pending.append(item)

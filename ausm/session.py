"""Streaming inference for one camera stream.

``StreamSession`` owns everything that persists between frames of a stream: the
model's recurrent state (previous X, per-layer SSM and conv states), the history masks
of the allocated IDs, the ID/track table, and pending prompts. ``step(frame)`` advances
one frame at constant time and memory; the frame itself is computed by a ``StepRunner``
(ausm/runtimes: torch, onnxruntime, TensorRT, TensorRT-RTX), the same semantics on each.

Semantics (beyond the paper, documented here because a robot depends on them):
  * Frames are fitted into the model input (``config.input_size``, or the first frame's
    size rounded to /32 when that is null; later frames go to the same grid so the state
    never changes shape) without distortion: scaled by one factor and padded
    (``ausm.letterbox``). Outputs are at the frame's own size.
  * Prompts are queued and applied at the start of the next ``step``: their masks are
    painted into that frame's history (see ``ausm.prompts``). A mask prompt, or a box prompt
    (cut down to its object, ``ausm.box_cut``), without positive points is also the object's
    output on that frame. RESET acts at once.
  * A tracked object is present when its objectness > ``presence_threshold`` (for a
    prompted one, ``prompted_presence_threshold``) and its mask is non-empty; its mask
    becomes its history mark for the next frame. With history
    propagation (``config.history_propagation``) marks are kept at the model input, carried
    onto each new frame by colour affinity (``ausm.propagation``), each first moved by its
    object's translation, looked for around its last one (``config.history_search``; the
    session keeps each track's last shift, and snapshots it), and an absent object
    keeps its last mark, still carried, so its row can find it again. Absent more than
    ``release_after_frames`` frames in a row -> released: marks cleared, slot back to the
    free list. Track ids (uint32) are never reused within a stream, not even
    across RESET (``ausm.tracks``).
  * Discovery (``discovery=True``): detection queries with objectness >
    ``foreground_threshold``, best first, at most ``top_k`` per frame, whose mask is not
    mostly (> ``new_object_max_overlap``) covered by already tracked objects, get fresh
    IDs from the free list.
  * Any invalid input raises ValueError naming the problem, before any state changes.

The settings named like the ROS node's parameters (``discovery``, ``foreground_threshold``,
``top_k``, ``release_after_frames``) are those parameters.
"""

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

from .box_cut import cut_boxes
from .colour_model import colour_gate
from .config import ModelConfig
from .letterbox import Letterbox
from .model import AUSM
from .prompts import Prompt, PromptAction, RasterisedPrompt, rasterise
from .propagation import add_detail, carry_following, carry_near, object_shifts
from .runtimes.base import StepOutputs, StepRunner
from .runtimes.torch_runner import TorchStepRunner
from .tracks import TrackTable, check_track_id_type

SNAPSHOT_FORMAT = "ausm-session/1"
BOX_CUTS = {"learned": "default", "colour": None, "box": None}  # box_cut setting -> cut_boxes' scorer
_GIVEN_LOGIT = 20.0  # a given mask's logits and objectness: far past any threshold
PathLike = Union[str, os.PathLike]


@dataclass
class SessionSettings:
    discovery: bool = True  # find new objects without prompts
    foreground_threshold: float = 0.5  # objectness for a detection to become a track
    # objectness for a tracked object to count as present; J&F on train-split composites, mask / box
    # prompts: 74.2 / - at 0.3, 75.0 / 71.3 at 0.4, 74.4 / 70.5 at 0.5
    presence_threshold: float = 0.4
    # the same for an object a caller prompted: 0 lets its mask alone decide. The network
    # calls small and entering objects absent (objectness ~0.3 for a 2-9 px sliver) while
    # its mask still follows them; the caller's word that the object is there outranks that.
    # Mask / box J&F, training videos: synthetic 84.4 / 81.2 at 0.4, 87.1 / 83.9 at 0.3,
    # 88.4 / 85.1 at 0.2, **88.6 / 85.3** at 0; 40 train-split composites 69.7 / 63.8 at 0.4,
    # 70.6 / 64.1 at 0.3, 70.6 / 64.1 at 0.2 and 0
    prompted_presence_threshold: float = 0.0
    mask_threshold: float = 0.0  # mask logit threshold (0 = probability 0.5)
    top_k: int = 10  # most new objects started in one frame
    release_after_frames: int = 30  # release an object after this many absent frames
    new_object_max_overlap: float = 0.5  # skip detections mostly covered by tracked objects
    duplicate_iou: float = 0.8  # two tracks whose masks overlap more are one object (> 1: off)
    class_head: Optional[str] = None  # dataset head for class ids (None: the first)
    point_radius: Optional[float] = None  # px; None: max(4, 2.5% of the shorter side)
    # how a box prompt becomes its object's mask (ausm.box_cut): "learned" (the bundled
    # classifier), "colour" (the colour rule alone) or "box" (the rectangle, not cut)
    box_cut: str = "learned"


# snapshots written before these settings took the node's parameter names
_OLD_SETTING_NAMES = {"score_threshold": "foreground_threshold", "max_absent_frames": "release_after_frames"}


@dataclass
class FrameResult:
    frame_index: int
    image_size: Tuple[int, int]  # (H, W) of the input frame
    track_ids: np.ndarray  # uint32 [K]
    masks: np.ndarray  # bool [K, H, W]
    boxes: np.ndarray  # float32 [K, 4], x1 y1 x2 y2 in pixels (x2, y2 exclusive)
    class_ids: np.ndarray  # int64 [K], -1 when unknown
    scores: np.ndarray  # float32 [K], objectness probability
    is_new: np.ndarray  # bool [K], first frame this track is reported
    released_track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    class_probs: Optional[np.ndarray] = None  # float32 [K, C], softmax of the class head (video AP scores every class)

    def __len__(self) -> int:
        return len(self.track_ids)

    @property
    def new_track_ids(self) -> np.ndarray:
        return self.track_ids[self.is_new]

    def label_image(self, dtype=np.uint32) -> np.ndarray:
        """[H, W] track id per pixel, 0 = background; overlaps go to the higher score."""
        out = np.zeros(self.image_size, dtype=dtype)
        for k in np.argsort(self.scores, kind="stable"):
            out[self.masks[k]] = self.track_ids[k]
        return out


def frame_to_tensor(frame: np.ndarray) -> torch.Tensor:
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


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """masks: bool [K, H, W] -> float32 [K, 4] tight xyxy boxes (x2, y2 exclusive)."""
    K = masks.shape[0]
    out = np.zeros((K, 4), dtype=np.float32)
    for k in range(K):
        rows, cols = np.flatnonzero(masks[k].any(1)), np.flatnonzero(masks[k].any(0))
        if len(rows):
            out[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out


class StreamSession:
    """One stream. ``runner`` computes the frames: any ``StepRunner`` (ausm/runtimes: torch,
    onnxruntime, TensorRT, TensorRT-RTX), or an ``AUSM`` model, run by a ``TorchStepRunner``.
    ``settings`` and keyword ``overrides`` are ``SessionSettings``."""

    def __init__(
        self,
        runner: Union[StepRunner, torch.nn.Module],
        settings: Optional[SessionSettings] = None,
        **overrides,
    ):
        if isinstance(runner, torch.nn.Module):
            runner = TorchStepRunner(runner)
        self.runner: StepRunner = runner
        self.config: ModelConfig = runner.config
        self.device = torch.device(runner.device)
        self.settings = self._checked(dataclasses.replace(settings or SessionSettings(), **overrides))
        self.tracks = TrackTable(self.config.num_ids)
        self._reset_stream()

    def _checked(self, settings: SessionSettings) -> SessionSettings:
        if settings.class_head is None:
            settings.class_head = next(iter(self.config.num_classes))
        if settings.class_head not in self.config.num_classes:
            raise ValueError(f"class_head '{settings.class_head}' not in {sorted(self.config.num_classes)}")
        if settings.box_cut not in BOX_CUTS:
            raise ValueError(f"box_cut must be one of {sorted(BOX_CUTS)}, got {settings.box_cut!r}")
        return settings

    def update_settings(self, **changes) -> None:
        """Change settings between frames (e.g. the node's run-time parameters)."""
        self.settings = self._checked(dataclasses.replace(self.settings, **changes))

    def _reset_stream(self) -> None:
        self.frame_index = 0
        self.model_hw: Optional[Tuple[int, int]] = None  # fixed by the first frame
        self.image_hw: Optional[Tuple[int, int]] = None  # size of the last frame
        self._state: Optional[List[torch.Tensor]] = None  # the model's recurrent state
        self._masks: Optional[torch.Tensor] = None  # history masks [num_ids, H/4, W/4]
        self._image: Optional[torch.Tensor] = None  # the last frame at the model input, [1, 3, H, W]
        self._motion: Dict[int, Tuple[int, int]] = {}  # track id -> its mask's last shift (dy, dx)
        self._pending: List[RasterisedPrompt] = []

    # -- prompts -----------------------------------------------------------------
    def prompt(self, p: Prompt) -> Optional[int]:
        """Queue a prompt for the next frame; returns the track id it concerns (assigned for
        ADD without one), None for RESET. Raises ValueError, queueing nothing, when invalid."""
        try:
            action = PromptAction(p.action)
        except ValueError:
            raise ValueError(f"unknown prompt action {p.action!r}") from None
        if p.track_id is not None:
            check_track_id_type(p.track_id)
        if action == PromptAction.RESET:
            self.reset()
            return None
        if action != PromptAction.ADD:
            self._check_tracked(action, p.track_id)
        if action == PromptAction.REMOVE:
            self._pending.append(RasterisedPrompt(action, int(p.track_id)))
            return int(p.track_id)
        if p.class_id is not None and not isinstance(p.class_id, (int, np.integer)):
            raise ValueError(f"class_id must be an integer, got {p.class_id!r}")
        base, add, remove = rasterise(p, self._prompt_image_size(p), self.settings.point_radius)
        exact = p.mask is not None and p.box is None and add is None
        boxed = p.box is not None and p.mask is None
        class_id = -1 if p.class_id is None else int(p.class_id)
        queued = RasterisedPrompt(action, 0, base, add, remove, class_id, exact, boxed)
        queued.check_selects_pixels()
        if action == PromptAction.ADD:
            self._check_room_for(p.track_id)
            queued.track_id = self.tracks.new_track_id(p.track_id)
        else:
            queued.track_id = int(p.track_id)
        self._pending.append(queued)
        return queued.track_id

    def _queued_ids(self, action: PromptAction) -> set:
        return {q.track_id for q in self._pending if q.action == action}

    def _check_tracked(self, action: PromptAction, track_id: Optional[int]) -> None:
        """REFINE and REMOVE need a track that is (or is about to be) tracked."""
        if track_id is None:
            raise ValueError(f"{action.name} needs an object id")
        known = self.tracks.slot_of(track_id) is not None or track_id in self._queued_ids(PromptAction.ADD)
        if not known or track_id in self._queued_ids(PromptAction.REMOVE):
            raise ValueError(f"unknown object id {track_id}")

    def _check_room_for(self, requested: Optional[int]) -> None:
        """An ADD needs a slot left after the queued ADDs and REMOVEs, and a new id."""
        adds = self._queued_ids(PromptAction.ADD)
        if self.tracks.num_free() - len(adds) + len(self._queued_ids(PromptAction.REMOVE)) <= 0:
            raise ValueError(f"no free ID slot: all {self.config.num_ids} IDs are tracking objects")
        if requested is not None and requested in adds:
            raise ValueError(f"object id {requested} is already tracked")

    def _prompt_image_size(self, p: Prompt) -> Tuple[int, int]:
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
        self,
        mask: Optional[np.ndarray] = None,
        box: Optional[Sequence[float]] = None,
        points: Optional[Sequence[Sequence[float]]] = None,
        point_labels: Optional[Sequence[int]] = None,
        track_id: Optional[int] = None,
        class_id: Optional[int] = None,
        image_size: Optional[Sequence[int]] = None,
    ) -> int:
        """Start tracking an object (``track_id``: the id wanted, else the next unused)."""
        return self.prompt(Prompt(PromptAction.ADD, track_id, mask, box, points, point_labels, class_id, image_size))

    def refine_object(
        self,
        track_id: int,
        mask: Optional[np.ndarray] = None,
        box: Optional[Sequence[float]] = None,
        points: Optional[Sequence[Sequence[float]]] = None,
        point_labels: Optional[Sequence[int]] = None,
        class_id: Optional[int] = None,
        image_size: Optional[Sequence[int]] = None,
    ) -> int:
        return self.prompt(Prompt(PromptAction.REFINE, track_id, mask, box, points, point_labels, class_id, image_size))

    def remove_object(self, track_id: int) -> int:
        return self.prompt(Prompt(PromptAction.REMOVE, track_id))

    def reset(self) -> None:
        """Forget the stream (state, tracks, pending prompts). Track ids keep counting up."""
        self.tracks.reset()
        self._reset_stream()

    def id_counter(self) -> Dict:
        """The track ids this stream has used, to persist: a restarted stream given it by
        ``continue_ids_after`` never hands out one of them again."""
        return self.tracks.id_counter()

    def continue_ids_after(self, counter: Dict) -> None:
        """Assign ids only above those recorded in ``counter`` (from ``id_counter``)."""
        self.tracks.continue_ids_after(counter)

    # -- the frame step ------------------------------------------------------------
    @torch.inference_mode()
    def step(self, frame: np.ndarray) -> FrameResult:
        """One HxWx3 RGB frame (uint8, or float in [0, 1]) -> the tracked objects in it."""
        image = frame_to_tensor(frame)
        H, W = image.shape[-2:]
        model_hw = tuple(self.model_hw or self.config.model_size((H, W)))
        mh, mw = AUSM.mask_size(model_hw)
        fit = Letterbox((H, W), model_hw)
        image = image.to(self.device)
        if not fit.is_identity:
            fill = torch.tensor(self.config.pixel_mean, device=self.device).view(1, 3, 1, 1) / 255.0
            image = fit.image_to_model(image, fill)

        # work on copies, committed at the end: a failure leaves the session as it was
        tracks = self.tracks.copy()
        state = self._state or self.runner.initial_state(model_hw)
        radius = self.config.history_propagation
        motion = self._motion
        # propagated history is kept at the model input: chained on the 1/4 grid it blurs
        history_hw = model_hw if radius > 0 else (mh, mw)
        masks = (
            self._masks.clone()
            if self._masks is not None
            else torch.zeros(self.config.num_ids, *history_hw, device=self.device)
        )
        if radius > 0 and self._image is not None:
            # last frame's masks moved onto this frame before its prompts (which already are
            # of this frame) are painted in, as training aligns teacher-forced history
            search = self.config.history_search
            if search > 0:
                ids = [tracks.track_id_of(k) for k in range(self.config.num_ids)]
                shifts = object_shifts(self._image, image, masks, search, [motion.get(t, (0, 0)) for t in ids])
                motion = {t: shift for t, shift in zip(ids, shifts) if t}
                masks = carry_following(masks, self._image, image, shifts, radius)
            else:
                masks = carry_near(masks, self._image, image, radius)
        released, given = self._apply_prompts(tracks, masks, history_hw, fit, image)
        grid = masks if radius == 0 else F.interpolate(masks[None], size=(mh, mw), mode="area")[0]

        valid = torch.from_numpy(tracks.active).to(self.device)
        slots = torch.arange(self.config.num_ids, device=self.device)
        out, state = self.runner.step(image, state, slots[None], grid[None], valid[None])
        if radius > 0:
            out = self._at_history_resolution(out, masks, grid, history_hw)
            if self.config.history_colour_gate > 0 and self._image is not None:
                out = self._colour_gated(out, image)
        if given:
            out = self._given_masks_as_output(out, masks, given)
        result, masks, more_released = self._ingest(out, tracks, valid, fit, masks)
        released += more_released

        self.tracks, self._state, self._masks, self._image = tracks, state, masks, image
        active = set(tracks.active_ids())
        self._motion = {t: shift for t, shift in motion.items() if t in active}
        self.model_hw, self.image_hw = model_hw, (H, W)
        self._pending = []
        self.frame_index += 1
        result.released_track_ids = np.array(released, dtype=np.uint32)
        return result

    def _at_history_resolution(self, out: StepOutputs, masks: torch.Tensor, grid: torch.Tensor, hw) -> StepOutputs:
        """Mask logits upsampled to the history masks' resolution, the ID rows' with the
        detail of their history the 1/4 grid lost (``add_detail``)."""
        S = self.config.num_ids
        logits = F.interpolate(out["mask_logits"].float(), size=hw, mode="bilinear", align_corners=False)
        ids = add_detail(logits[0, :S], masks, grid, self.config.history_detail_gain)
        return {**out, "mask_logits": torch.cat([ids, logits[0, S:]])[None]}

    def _colour_gated(self, out: StepOutputs, image: torch.Tensor) -> StepOutputs:
        """ID rows lose the pixels coloured more like what surrounded their object on the
        last frame than like the object (``history_colour_gate``): colour propagation and the
        network both leak a mask onto neighbouring background of a similar texture, frame by
        frame; the object's own colours, against its surroundings', hold it back."""
        keep = colour_gate(self._masks, self._image[0], image[0], self.config.history_colour_gate)
        logits = out["mask_logits"].clone()
        S = self.config.num_ids
        logits[0, :S] = logits[0, :S].masked_fill(~keep, -_GIVEN_LOGIT)
        return {**out, "mask_logits": logits}

    def _given_masks_as_output(self, out: StepOutputs, masks: torch.Tensor, slots: List[int]) -> StepOutputs:
        """The rows whose prompt this frame sets their output (``RasterisedPrompt.sets_output``)
        output its mask, present: what the caller said about this frame outranks what the
        network makes of it, and the next frame's history starts from it (a row the network
        misses on its prompt frame would otherwise be lost from the start)."""
        logits, objectness = out["mask_logits"].clone(), out["objectness_logits"].clone()
        rows = torch.tensor(slots, device=logits.device)
        logits[0, rows] = torch.where(masks[rows] > 0.5, _GIVEN_LOGIT, -_GIVEN_LOGIT).to(logits.dtype)
        objectness[0, rows] = _GIVEN_LOGIT
        return {**out, "mask_logits": logits, "objectness_logits": objectness}

    def _apply_prompts(
        self, tracks: TrackTable, masks: torch.Tensor, grid: Tuple[int, int], fit: Letterbox, image: torch.Tensor
    ) -> Tuple[List[int], List[int]]:
        """Paint the queued prompts into the history ``masks``; returns the track ids removed
        and the slots whose output this frame is their prompt's mask. ``image``: this frame
        at the model input, where boxes are cut down to their objects."""
        released, given = [], []
        to_grid: Callable[[np.ndarray], torch.Tensor] = lambda a: fit.mask_to_grid(torch.from_numpy(a), grid).to(
            masks.device
        )

        # every box of this frame cut in one pass (the cut depends only on the frame and the box)
        boxed = [i for i, q in enumerate(self._pending) if q.boxed]
        cuts: Dict[int, torch.Tensor] = {}
        if boxed and self.settings.box_cut != "box":
            model_hw = tuple(image.shape[-2:])
            boxes = torch.stack([fit.mask_to_grid(torch.from_numpy(self._pending[i].base), model_hw) for i in boxed])
            inside = cut_boxes(image[0], boxes.to(image.device), scorer=BOX_CUTS[self.settings.box_cut])
            if model_hw != tuple(grid):
                inside = F.interpolate(inside[:, None], size=grid, mode="area")[:, 0]
            cuts = dict(zip(boxed, inside))

        for i, q in enumerate(self._pending):
            slot = tracks.slot_of(q.track_id)
            if q.action == PromptAction.REMOVE:
                if slot is not None:
                    tracks.release(slot)
                    masks[slot] = 0
                    released.append(q.track_id)
                continue
            if q.action == PromptAction.ADD:
                if not tracks.num_free():  # cannot happen via prompt(); never wedge the stream
                    continue
                slot = tracks.allocate(q.track_id, q.class_id, prompted=True)
                current = torch.zeros(grid, device=masks.device)
            elif slot is None:  # REFINE of a track released between the prompt and this frame
                continue
            else:
                tracks.refresh(slot, q.class_id)
                current = masks[slot]
            masks[slot] = q.paint(current, to_grid, cuts.get(i))
            if q.sets_output:
                given.append(slot)
            elif slot in given:  # a later box or points on the same object this frame
                given.remove(slot)
        return released, given

    def _ingest(
        self, out: StepOutputs, tracks: TrackTable, valid: torch.Tensor, fit: Letterbox, history: torch.Tensor
    ) -> Tuple[FrameResult, torch.Tensor, List[int]]:
        """Model outputs -> tracks update, next history masks, and the FrameResult.
        ``history``: the masks this frame read, kept for tracks that are absent but not
        released when propagation moves them with the image."""
        s = self.settings
        S = self.config.num_ids
        logits = out["mask_logits"][0]  # [Q, h, w]
        obj = out["objectness_logits"][0].sigmoid()  # [Q]
        fg = logits > s.mask_threshold
        threshold = torch.where(
            torch.from_numpy(tracks.prompted_slots).to(obj.device),
            s.prompted_presence_threshold,
            s.presence_threshold,
        )
        present = valid & (obj[:S] > threshold) & fg[:S].flatten(1).any(1)
        released = self._merge_duplicates(fg[:S], present, tracks)
        next_masks = fg[:S].float() * present[:, None, None]
        released += [tid for _, tid in tracks.update_presence(present.cpu().numpy(), s.release_after_frames)]
        rows = [int(r) for r in torch.nonzero(present).flatten()]  # ID rows = slots
        slots = list(rows)
        if self.config.history_propagation > 0:
            # an object the network loses for a frame (it misses small and entering objects
            # on real images) keeps its last mark, moving with the image, until released:
            # a cleared history could never lead its row back to it
            coast = torch.from_numpy(tracks.active).to(present.device) & ~present
            next_masks[coast] = history[coast].float()

        if s.discovery and tracks.num_free():
            occupied = (fg[:S] & present[:, None, None]).any(0)  # present tracks only, not kept marks
            det = obj[S:]
            cand = torch.nonzero(det > s.foreground_threshold).flatten()
            cand = cand[torch.argsort(det[cand], descending=True, stable=True)][: s.top_k]
            for q in cand.tolist():
                m = fg[S + q]
                area = int(m.sum())
                if area == 0 or int((m & occupied).sum()) > s.new_object_max_overlap * area:
                    continue
                if not tracks.num_free():
                    break
                slot = tracks.allocate(tracks.new_track_id())
                next_masks[slot] = m.float()
                occupied |= m
                rows.append(S + q)
                slots.append(slot)

        return self._result(out, rows, slots, tracks, fit), next_masks, released

    def _merge_duplicates(self, fg: torch.Tensor, present: torch.Tensor, tracks: TrackTable) -> List[int]:
        """One object, one id: when two tracks' masks overlap above ``duplicate_iou`` their
        ID rows have converged on one object, and the track started later is released
        (a discovered one before a prompted one; two prompted tracks are both kept, the
        caller asked for them). Updates ``present`` in place; returns the released ids."""
        rows = torch.nonzero(present).flatten()
        if len(rows) < 2 or self.settings.duplicate_iou > 1:
            return []
        m = fg[rows].flatten(1).float()
        inter = m @ m.T
        area = m.sum(1)
        iou = inter / (area[:, None] + area[None, :] - inter).clamp(min=1)
        released = []
        for i, j in torch.nonzero(torch.triu(iou > self.settings.duplicate_iou, diagonal=1)).tolist():
            a, b = int(rows[i]), int(rows[j])
            if not (present[a] and present[b]):
                continue  # one of them already went in an earlier pair
            pa, pb = tracks.prompted(a), tracks.prompted(b)
            if pa and pb:
                continue
            # the discovered one goes; between equals, the younger (ids only grow)
            drop = b if pa or (not pb and tracks.track_id_of(a) < tracks.track_id_of(b)) else a
            released.append(tracks.track_id_of(drop))
            tracks.release(drop)
            present[drop] = False
        return released

    def _result(
        self, out: StepOutputs, rows: List[int], slots: List[int], tracks: TrackTable, fit: Letterbox
    ) -> FrameResult:
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
        tids = np.array([tracks.track_id_of(sl) for sl in slots], dtype=np.uint32)
        override = np.array([tracks.class_of(sl) for sl in slots], dtype=np.int64)
        classes = np.where(override >= 0, override, classes).astype(np.int64)
        keep = masks.any(axis=(1, 2))  # a speck may vanish when downsized
        order = np.argsort(tids[keep], kind="stable")
        pick = lambda a: a[keep][order]
        masks, shown = pick(masks), pick(np.array(slots, dtype=np.int64))
        return FrameResult(
            frame_index=self.frame_index,
            image_size=(H, W),
            track_ids=pick(tids),
            masks=masks,
            boxes=boxes_from_masks(masks),
            class_ids=pick(classes),
            scores=pick(scores),
            is_new=tracks.mark_reported(shown),  # first frame this track is reported
            class_probs=pick(probs),
        )

    # -- state size and persistence --------------------------------------------------
    def state_bytes(self) -> int:
        """Bytes of recurrent state this stream holds (model state + history masks)."""
        tensors = (self._state or []) + [t for t in (self._masks, self._image) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)

    def snapshot(self, path: PathLike) -> None:
        """Write the full session state to one safetensors file (tensors + JSON metadata)."""
        tensors = {f"state.{i}": t.detach().cpu().contiguous() for i, t in enumerate(self._state or [])}
        if self._masks is not None:
            tensors["history_masks"] = self._masks.cpu().contiguous()
        if self._image is not None:
            tensors["last_image"] = self._image.cpu().contiguous()
        pending = []
        for i, q in enumerate(self._pending):
            rasters = q.rasters()
            for k, a in rasters.items():
                tensors[f"pending.{i}.{k}"] = torch.from_numpy(a).contiguous()
            pending.append(
                {
                    "action": int(q.action),
                    "track_id": q.track_id,
                    "class_id": q.class_id,
                    "exact": q.exact,
                    "boxed": q.boxed,
                    "rasters": list(rasters),
                }
            )
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
            "motion": [[t, *shift] for t, shift in self._motion.items()],
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

    def restore(self, path: PathLike) -> None:
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
        settings = {_OLD_SETTING_NAMES.get(k, k): v for k, v in meta["settings"].items()}
        self.settings = SessionSettings(**settings)
        self.tracks = TrackTable.from_dict(meta["tracks"])
        self.frame_index = meta["frame_index"]
        self.model_hw = tuple(meta["model_hw"]) if meta["model_hw"] else None
        self.image_hw = tuple(meta["image_hw"]) if meta["image_hw"] else None
        self._state = [tensors[f"state.{i}"].to(self.device) for i in range(meta["num_state"])] or None
        self._masks = tensors["history_masks"].to(self.device) if "history_masks" in tensors else None
        if self._masks is not None and self.model_hw and self.config.history_propagation > 0:
            if tuple(self._masks.shape[-2:]) != tuple(self.model_hw):
                # snapshots from before propagated history was kept at the model input: 1/4
                self._masks = F.interpolate(self._masks[None], size=self.model_hw, mode="bilinear")[0]
        self._image = tensors["last_image"].to(self.device) if "last_image" in tensors else None
        self._motion = {t: (dy, dx) for t, dy, dx in meta.get("motion", [])}
        self._pending = []
        for i, q in enumerate(meta["pending"]):
            rasters = {k: tensors[f"pending.{i}.{k}"].numpy() for k in q["rasters"]}
            self._pending.append(
                RasterisedPrompt(
                    PromptAction(q["action"]),
                    q["track_id"],
                    class_id=q["class_id"],
                    exact=q.get("exact", False),
                    boxed=q.get("boxed", False),
                    **rasters,
                )
            )

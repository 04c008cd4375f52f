"""Moving history masks with the image: local colour-affinity propagation.

An ID row reads its object's mask from the previous frame (its history mask) and the mask
decoder adds it to the row's logits as a prior (ausm/modules/mask_decoder.py). Where the
object moved, that prior points at where it was. Before a frame is decoded, each history
mask is therefore carried over to the new frame: every pixel of the new frame takes the
mask values of the previous frame's pixels within ``radius`` whose colour is close to its
own, weighted by a softmax over the colour distances (label propagation, as in
"Tracking Emerges by Colorizing Videos", Vondrick et al. 2018, here on raw colour).

Why raw colour and not learned features (held-out composites of real photographs, one frame
ahead from the ground-truth mask, mean IoU): colour at the model input size 0.84, the static
mask 0.77, the tiny backbone's or the pixel decoder's features at 1/4 at most 0.77. Chained
over whole videos with no network (``bench/propagation_choice.py``, DAVIS J&F): 52.2 at the
model input against 21.7 static, but 34.7 when the mask is stored on the 1/4 grid between
frames, which is why the session keeps propagated history at the model input (``carry_near``)
and adds back what the network's 1/4 grid loses of it (``add_detail``). The paper does not
describe this step; it is ours. It has no weights, so training and streaming share it: the
session propagates its history masks before painting a frame's prompts (prompts are already
masks of the new frame), and training propagates teacher-forced masks the same way
(``align_history``, on the 1/4 grid). The session can first move each mask by its own
translation (``carry_following``, ``history_search``), looked for around its translation on
the frame before: propagation alone follows at most its radius, and stays behind where an
object crosses background of its own colours; training does not (yet), so the network
reads better-aligned history while streaming than it learned on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .model import History

RADIUS = 5  # pixels at the model input: the largest motion per frame followed
# on squared RGB distances of [0, 1] colours. Chosen with the shipped session on the first
# half of the held-out composites (J&F 54.0 at 0.005, 56.8 at 0.003, 56.2 at 0.0015); colour
# alone over whole videos (bench/propagation_choice.py) gains as it falls on train-split
# composites (0.644 at 0.005, 0.668 at 0.003, 0.702 at 0.001) but is flat held out below 0.003
TEMPERATURE = 0.003
_OUTSIDE = 1e3  # colour of the padding: no weight goes outside the image
# carry_following: objects moving less than this (px) are left to propagation alone, which
# follows them; at most FOLLOW_AT_MOST are moved first, each costing one more propagation,
# unless every object fits in a crop of its own and the crops together cover at most
# CROPS_AT_MOST frames: then all are moved, in one batch of crops
FOLLOW_FROM = 2
FOLLOW_AT_MOST = 4
CROPS_AT_MOST = 4


def affinities(prev: torch.Tensor, image: torch.Tensor, radius: int = RADIUS, temperature: float = TEMPERATURE):
    """prev, image: [N, 3, H, W] RGB in [0, 1] -> weights [N, (2r+1)^2, H, W] (summing to 1
    over dim 1): how much each pixel of ``image`` takes from each offset in ``prev``."""
    N, _, H, W = image.shape
    padded = F.pad(prev.float(), (radius,) * 4, value=_OUTSIDE)
    image = image.float()
    side = 2 * radius + 1
    scores = image.new_empty(N, side * side, H, W)
    for i in range(side * side):
        dy, dx = divmod(i, side)
        torch.sum((padded[:, :, dy : dy + H, dx : dx + W] - image).pow_(2), dim=1, out=scores[:, i])
    return torch.softmax(scores.mul_(-1.0 / temperature), dim=1)


def carry(masks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """masks: [N, K, H, W] of the frame before, at the resolution ``weights`` was made at
    -> the masks carried to the new frame, same shape."""
    side = int(round(weights.shape[1] ** 0.5))
    radius = side // 2
    H, W = masks.shape[-2:]
    padded = F.pad(masks.float(), (radius,) * 4)
    out = torch.zeros(masks.shape, dtype=torch.float32, device=masks.device)
    for i in range(side * side):
        dy, dx = divmod(i, side)
        out.addcmul_(weights[:, i : i + 1], padded[:, :, dy : dy + H, dx : dx + W])
    return out


def propagate(masks: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """masks: [N, K, h, w] in [0, 1] on the 1/4 grid of the frames ``weights`` was made from
    -> the masks carried to the new frame, same shape (area-pooled back to the grid)."""
    h, w = masks.shape[-2:]
    full = F.interpolate(masks.float(), size=weights.shape[-2:], mode="bilinear", align_corners=False)
    return F.adaptive_avg_pool2d(carry(full, weights), (h, w)).to(masks.dtype)


def reach(occupied: torch.Tensor, radius: int, dy: int = 0, dx: int = 0) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the bounding box of ``occupied`` (bool [H, W], not all false) moved
    by (dy, dx) and grown by ``2 * radius``, within the image (empty once moved out of it):
    where a propagation of masks inside it can give or take mass."""
    H, W = occupied.shape
    rows, cols = torch.nonzero(occupied.any(1)).flatten(), torch.nonzero(occupied.any(0)).flatten()
    y0, y1 = max(int(rows[0]) + dy - 2 * radius, 0), min(int(rows[-1]) + dy + 2 * radius + 1, H)
    x0, x1 = max(int(cols[0]) + dx - 2 * radius, 0), min(int(cols[-1]) + dx + 2 * radius + 1, W)
    return y0, y1, x0, x1


def carry_near(masks: torch.Tensor, prev: torch.Tensor, image: torch.Tensor, radius: int = RADIUS) -> torch.Tensor:
    """masks: [K, H, W] of ``prev`` ([1, 3, H, W]) at its resolution -> carried onto
    ``image``. The same as ``carry`` over the whole frame, computed only within 2 * radius of
    the masks' bounding box: nothing farther can receive any of them, and every pixel that
    can has its whole neighbourhood inside (the cost follows the objects, not the frame)."""
    moving = torch.nonzero(masks.flatten(1).amax(1) > 0).flatten()  # the cost is per mask
    out = torch.zeros_like(masks)
    if len(moving) == 0:
        return out
    y0, y1, x0, x1 = reach(masks[moving].amax(0) > 0, radius)
    # inside the image the crop's edge is farther than radius from any mask pixel's reach, so
    # the padding affinities() puts there only meets pixels that receive nothing anyway
    weights = affinities(prev[..., y0:y1, x0:x1], image[..., y0:y1, x0:x1], radius)
    out[moving, y0:y1, x0:x1] = carry(masks[None, moving, y0:y1, x0:x1], weights)[0].to(masks.dtype)
    return out


def object_shifts(
    prev: torch.Tensor,
    image: torch.Tensor,
    masks: torch.Tensor,
    search: int,
    expected: list[tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """For each mask of ``masks`` ([K, H, W], > 0.5) the translation (dy, dx), each within
    ``search`` pixels of the one ``expected`` for it (its shift on the frame before,
    clamped to ``search``; none expected: no motion), that best moves the pixels of ``prev``
    ([1, 3, H, W]) under it onto ``image``: least mean squared colour difference over the
    part of the mask that lands inside the image (template matching, three correlations).
    Centring the search on the last motion follows an object faster than ``search`` as long
    as it keeps its speed. An object leaving the view is followed out of it as long as a
    quarter of it stays in; the shift nearest the expected one wins a tie, so a still or
    flat object keeps its motion; an empty mask stays."""
    reach = 2 * search
    padded = F.pad(image[0], (reach,) * 4)
    inside = F.pad(torch.ones_like(image[0, :1]), (reach,) * 4)
    squares = (padded**2).sum(0, keepdim=True)
    d = torch.arange(-search, search + 1, device=image.device, dtype=image.dtype)
    nearest = 1e-6 * (d[:, None] ** 2 + d[None, :] ** 2)
    corr = lambda x, k: F.conv2d(x[None], k[None])[0, 0]
    shifts = []
    for k, mask in enumerate(masks):
        ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
        if len(ys) < 4:
            shifts.append((0, 0))
            continue
        cy, cx = (max(-search, min(search, c)) for c in (expected[k] if expected else (0, 0)))
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        weight = (mask[y0:y1, x0:x1] > 0.5).to(prev.dtype)[None]
        template = prev[0, :, y0:y1, x0:x1] * weight
        # shift (cy - search + i, cx - search + j) puts the template at window offset (i, j)
        top, left = y0 + cy + reach - search, x0 + cx + reach - search
        window = (slice(None), slice(top, top + y1 - y0 + 2 * search), slice(left, left + x1 - x0 + 2 * search))
        # sum over the in-image part of the mask of (image - prev)^2, and that part's size
        ssd = corr(squares[window], weight) - 2 * corr(padded[window], template)
        ssd = ssd + corr(inside[window], (template**2).sum(0, keepdim=True))
        landed = corr(inside[window], weight)
        cost = torch.where(landed >= 0.25 * weight.sum(), ssd / landed.clamp(min=1), torch.inf) + nearest
        dy, dx = divmod(int(torch.argmin(cost)), cost.shape[1])
        shifts.append((cy + dy - search, cx + dx - search))
    return shifts


def translate(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """[..., H, W] moved by (dy, dx) pixels, zeros where nothing moved in."""
    H, W = x.shape[-2:]
    out = torch.zeros_like(x)
    out[..., max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = x[
        ..., max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def carry_following(
    masks: torch.Tensor,
    prev: torch.Tensor,
    image: torch.Tensor,
    shifts: list[tuple[int, int]],
    radius: int = RADIUS,
    least: int = FOLLOW_FROM,
    most: int = FOLLOW_AT_MOST,
    crops_at_most: float = CROPS_AT_MOST,
) -> torch.Tensor:
    """``carry_near`` after each mask and the previous frame under it are first moved by the
    mask's own shift (from ``object_shifts``): colour propagation alone follows at most
    ``radius`` pixels of motion and, where an object moves over background of its own
    colours, stays behind on the background. Shifts under ``least`` pixels are left to
    propagation. Objects small enough are carried each in its own crop, all crops in one
    batch (``carry_each``): the loops over the window's offsets then run once for all of
    them. Otherwise each distinct shift costs one more propagation over the whole of its
    objects, so only the ``most`` fastest objects are moved first and the rest share one."""
    shifts = [s if max(abs(s[0]), abs(s[1])) >= least else (0, 0) for s in shifts]
    windows = moved_windows(masks, shifts, radius)
    if windows and len(windows[0]) * windows[1] * windows[2] <= crops_at_most * masks.shape[-2] * masks.shape[-1]:
        return carry_each(masks, prev, image, shifts, windows, radius)
    speed = [max(abs(dy), abs(dx)) for dy, dx in shifts]
    fast = sorted((k for k in range(len(shifts)) if speed[k] > 0), key=lambda k: -speed[k])[:most]
    groups: dict[tuple[int, int], list[int]] = {}
    for k in range(len(shifts)):
        groups.setdefault(shifts[k] if k in fast else (0, 0), []).append(k)
    out = torch.zeros_like(masks)
    for (dy, dx), ks in groups.items():
        out[ks] = carry_near(translate(masks[ks], dy, dx), translate(prev, dy, dx), image, radius)
    return out


def moved_windows(
    masks: torch.Tensor, shifts: list[tuple[int, int]], radius: int
) -> tuple[list[tuple[int, int, int]], int, int] | None:
    """Where each non-empty mask of ``masks`` ([K, H, W]), moved by its shift, can give or
    take mass: ([(k, top, left)], height, width), one window size for all, each window
    holding its ``reach`` (as ``carry_near``'s crop) and lying inside the image. None when
    no mask can land in the image."""
    H, W = masks.shape[-2:]
    boxes = []
    for k in torch.nonzero(masks.flatten(1).amax(1) > 0).flatten().tolist():
        y0, y1, x0, x1 = reach(masks[k] > 0, radius, *shifts[k])
        if y1 > y0 and x1 > x0:  # else moved out of the image: it receives nothing
            boxes.append((k, y0, y1, x0, x1))
    if not boxes:
        return None
    h = max(max(y1 - y0 for _, y0, y1, _, _ in boxes), 1)
    w = max(max(x1 - x0 for _, _, _, x0, x1 in boxes), 1)
    # a window grown to the common size keeps its box inside it and stays in the image
    return [(k, min(y0, H - h), min(x0, W - w)) for k, y0, _, x0, _ in boxes], h, w


def carry_each(
    masks: torch.Tensor,
    prev: torch.Tensor,
    image: torch.Tensor,
    shifts: list[tuple[int, int]],
    windows: tuple[list[tuple[int, int, int]], int, int],
    radius: int = RADIUS,
) -> torch.Tensor:
    """Each mask moved by its shift, with the previous frame under it, then carried onto
    ``image`` within its window from ``moved_windows``: one batch of crops. The same as
    ``carry_near`` of each moved mask alone (nothing outside its window can receive it)."""
    places, h, w = windows
    crops = [(k, slice(y, y + h), slice(x, x + w)) for k, y, x in places]
    moved_prev = [translate(prev[0], *shifts[k])[:, ys, xs] for k, ys, xs in crops]
    moved_masks = [translate(masks[k], *shifts[k])[ys, xs] for k, ys, xs in crops]
    here = [image[0, :, ys, xs] for _, ys, xs in crops]
    weights = affinities(torch.stack(moved_prev), torch.stack(here), radius)
    carried = carry(torch.stack(moved_masks)[:, None], weights)[:, 0]
    out = torch.zeros_like(masks)
    for i, (k, ys, xs) in enumerate(crops):
        out[k, ys, xs] = carried[i].to(masks.dtype)
    return out


def add_detail(logits: torch.Tensor, masks: torch.Tensor, grid: torch.Tensor, gain: float) -> torch.Tensor:
    """The network reads history on its 1/4 grid and answers there; the history is known
    finer. logits: [K, H, W] the ID rows' mask logits upsampled to the history masks'
    resolution; masks: [K, H, W] those history masks; grid: [K, h, w] what the network read
    (them, area-pooled). Adds ``gain`` x (what the grid lost of each non-empty mask, in the
    same [-1, 1] scale as the decoder's mask prior), so boundaries that moved with the image
    stay sharp instead of being redrawn at 1/4."""
    if gain == 0 or masks.shape[0] == 0:
        return logits
    coarse = F.interpolate(grid[None].float(), size=masks.shape[-2:], mode="bilinear", align_corners=False)[0]
    present = (grid.flatten(1).amax(1) > 0).to(logits.dtype)[:, None, None]
    return logits + gain * 2.0 * (masks - coarse).to(logits.dtype) * present


@torch.no_grad()
def clip_affinities(frames: torch.Tensor, radius: int = RADIUS) -> torch.Tensor:
    """frames: [B, T, 3, H, W] in [0, 1], T >= 2 -> the weights of every step t-1 -> t,
    [B, T-1, (2r+1)^2, H, W]."""
    B, T = frames.shape[:2]
    weights = affinities(frames[:, :-1].flatten(0, 1), frames[:, 1:].flatten(0, 1), radius)
    return weights.unflatten(0, (B, T - 1))


@torch.no_grad()
def align_history(history: "History", weights: torch.Tensor) -> "History":
    """The history masks of frame t (masks of frame t-1) carried to frame t with
    ``weights`` from ``clip_affinities``, except where ``history.id_current`` says a mask
    already is of frame t (prompts). Frame 0 has no previous frame and is left as it is."""
    from .model import History

    K = history.id_slots.shape[-1]
    if K == 0:
        return history
    later = history.id_masks[:, 1:]
    moved = propagate(later.flatten(0, 1), weights.flatten(0, 1)).view_as(later)
    if history.id_current is not None:
        moved = torch.where(history.id_current[:, 1:, :, None, None], later, moved)
    masks = torch.cat([history.id_masks[:, :1], moved], dim=1)
    return History(history.id_slots, masks, history.id_valid, history.id_current)

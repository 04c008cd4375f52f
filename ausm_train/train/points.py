"""Point sampling for mask losses (Mask2Former / PointRend): comparing masks on a few
thousand points instead of every pixel keeps the loss cheap at any resolution, and
predicted and target masks of different resolutions are read at the same places."""

import torch
import torch.nn.functional as F


def point_sample(maps, coords):
    """maps: [M, C, H, W]; coords: [M, P, 2] as (x, y) in [0, 1] -> [M, C, P] (bilinear)."""
    grid = (2.0 * coords - 1.0).unsqueeze(2).to(maps.dtype)  # [M, P, 1, 2]
    return F.grid_sample(maps, grid, mode="bilinear", align_corners=False).squeeze(3)


def random_points(m, p, device, generator=None):
    return torch.rand(m, p, 2, generator=generator).to(device)


def uncertain_points(logits, num_points, oversample_ratio, importance_ratio, generator=None):
    """Points for each of the M masks in ``logits`` [M, 1, h, w]: ``importance_ratio`` of
    them where the prediction is least certain (|logit| smallest among an oversampled
    random set), the rest uniform, so training concentrates on boundaries without
    forgetting the interior."""
    m = logits.shape[0]
    if importance_ratio <= 0:
        return random_points(m, num_points, logits.device, generator)
    n_over = int(num_points * oversample_ratio)
    candidates = random_points(m, n_over, logits.device, generator)
    with torch.no_grad():
        certainty = point_sample(logits.detach().float(), candidates)[:, 0].abs()  # [M, n_over]
    n_imp = int(importance_ratio * num_points)
    idx = certainty.topk(n_imp, dim=1, largest=False).indices
    chosen = torch.gather(candidates, 1, idx[..., None].expand(-1, -1, 2))
    rest = random_points(m, num_points - n_imp, logits.device, generator)
    return torch.cat([chosen, rest], dim=1)

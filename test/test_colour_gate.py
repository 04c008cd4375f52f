"""A tracked mask is kept off pixels coloured like what surrounded its object one frame
before (``history_colour_gate``, ``ausm.colour_model``)."""

import torch
import torch.nn.functional as F
from helpers.colour_scene import SIZE, scene
from helpers.scripted import ScriptedRunner

from ausm.colour_model import colour_index, object_probability, surroundings, window_sum
from ausm.session import StreamSession


def test_object_colours_are_told_from_their_surroundings():
    img, disc = scene()
    colours = colour_index(torch.from_numpy(img).permute(2, 0, 1).float() / 255)
    inside = torch.from_numpy(disc)
    p = object_probability(colours, inside, surroundings(inside), colours, smooth=1)
    assert float(p[inside].min()) > 0.9 and float(p[surroundings(inside, 6)].mean()) < 0.1


def test_window_sums_and_surroundings_match_pooling():
    x = torch.rand(3, 17, 23)
    assert torch.allclose(window_sum(x, 2), F.avg_pool2d(x[:, None], 5, 1, 2)[:, 0] * 25, atol=1e-4)
    inside = x > 0.8
    dilated = F.max_pool2d(inside[:, None].float(), 7, 1, 3)[:, 0] > 0.5
    assert torch.equal(surroundings(inside, 3), dilated & ~inside)


def test_objects_scored_together_equal_one_by_one():
    img, disc = scene()
    colours = colour_index(torch.from_numpy(img).permute(2, 0, 1).float() / 255)
    inside = torch.stack([torch.from_numpy(disc), torch.from_numpy(~disc)])
    around = surroundings(inside)
    together = object_probability(colours, inside, around, colours)
    for k in range(2):
        assert torch.allclose(together[k], object_probability(colours, inside[k], around[k], colours))


class Leaky(ScriptedRunner):
    """Each tracked row marks its history mark grown by one cell of the 1/4 grid: a network
    that spills onto the background around its object, a little more every frame."""

    def __init__(self, gate):
        super().__init__(
            input_size=[SIZE, SIZE], num_ids=4, num_det_queries=2, history_propagation=2, history_colour_gate=gate
        )

    def rows(self, id_masks, id_valid):
        S, nd = self.config.num_ids, self.config.num_det_queries
        rows = torch.zeros(S + nd, SIZE // 4, SIZE // 4, dtype=torch.bool)
        grown = F.max_pool2d(id_masks[0][:, None], 3, stride=1, padding=1)[:, 0]
        rows[:S] = (grown > 0.3) & id_valid[0, :, None, None]
        return rows


def spill(gate):
    """Pixels of the tracked mask off the object, frame by frame after the prompt."""
    img, disc = scene()
    session = StreamSession(Leaky(gate), discovery=False)
    session.add_object(mask=disc, image_size=(SIZE, SIZE))
    return [int((session.step(img).masks[0] & ~disc).sum()) for _ in range(4)][1:]


def test_the_gate_holds_a_spilling_mask_near_its_object():
    gated, free = spill(0.3), spill(0.0)
    # the probability is smoothed over 5 pixels, so the gate lets a pixel's width through
    # per frame (about 36 pixels around this disc); without it a whole grid cell spills
    assert all(g <= 40 * (t + 1) for t, g in enumerate(gated)), gated
    assert all(5 * g < f for g, f in zip(gated, free)), (gated, free)

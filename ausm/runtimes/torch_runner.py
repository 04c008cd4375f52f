"""The PyTorch step runner: ``AUSM.step`` itself, the reference the other backends match."""


class TorchStepRunner:
    name = "torch"

    def __init__(self, model):
        self.model = model
        self.device = next(model.parameters()).device

    def initial_state(self, hw):
        return self.model.initial_state(1, hw, self.device)

    def step(self, image, state, id_slots, id_masks, id_valid):
        return self.model.step(image, state, id_slots, id_masks, id_valid)

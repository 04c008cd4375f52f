"""The errors the format readers raise: one unreadable sample, or a whole unusable dataset."""


class CorruptSampleError(RuntimeError):
    """One sample (a video or an image) cannot be read: unreadable image, bad
    annotation entry, inconsistent sizes.

    The trainer catches exactly this type to skip, log and count the sample;
    anything else is a bug and should stop the run. It takes a single message
    argument so that torch's DataLoader can re-raise it by type across worker
    processes.
    """

    def __init__(self, message: str, dataset: str = "", video: str = ""):
        super().__init__(message)
        self.dataset = dataset
        self.video = video


class DatasetFormatError(ValueError):
    """A whole dataset is unusable (missing split file, unparsable index JSON).

    Not skippable: a wrong path in a config must stop training, not make it run
    on nothing.
    """

from .history_compressor import HistoryCompressor
from .history_decoder import HistoryDecoder
from .history_marker import HistoryMarker
from .id_buffer import IDBuffer
from .mask_decoder import MaskDecoder
from .pixel_decoder import PixelDecoder

__all__ = ["HistoryCompressor", "HistoryDecoder", "HistoryMarker", "IDBuffer", "MaskDecoder", "PixelDecoder"]

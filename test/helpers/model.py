"""A model config small enough for fast tests of the decoder and checkpoints."""

SMALL = dict(
    input_size=[64, 64],
    hidden_dim=32,
    num_heads=2,
    ffn_dim=32,
    mask_decoder_ffn_dim=32,
    compressor_layers=1,
    history_decoder_layers=1,
    num_ids=4,
    num_det_queries=3,
    backbone_args={"channels": [8, 8, 16, 16], "blocks": [1, 1, 1, 1]},
    ssm_args={"d_state": 4, "d_conv": 4, "expand": 1, "chunk_size": 4},
)

"""On a CUDA machine with mamba-ssm: our twins load mamba_ssm's weights by name and agree
with its kernels. Skipped elsewhere (CPU hosts have neither)."""

import importlib.util

import pytest
import torch

from ausm.ssm import Mamba, Mamba2

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("mamba_ssm") is None, reason="needs CUDA and mamba_ssm"
)


@pytest.mark.parametrize("kind", ["mamba1", "mamba2"])
def test_twin_matches_mamba_ssm_module(kind):
    import mamba_ssm

    torch.manual_seed(0)
    if kind == "mamba1":
        ref = mamba_ssm.Mamba(64, d_state=16, d_conv=4, expand=2).cuda()
        ours = Mamba(64, d_state=16, d_conv=4, expand=2).cuda()
    else:
        ref = mamba_ssm.Mamba2(64, d_state=64, d_conv=4, expand=2, headdim=32).cuda()
        ours = Mamba2(64, d_state=64, d_conv=4, expand=2, headdim=32).cuda()
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names, same shapes
    u = torch.randn(4, 33, 64, device="cuda")
    with torch.no_grad():
        y_ref = ref(u)
        y_ours, _ = ours(u)  # dispatches to the kernels
        ours_cpu = (Mamba if kind == "mamba1" else Mamba2)(
            64, d_state=ours.d_state, d_conv=4, expand=2, **({} if kind == "mamba1" else {"headdim": 32})
        )
        ours_cpu.load_state_dict(ref.state_dict())
        y_torch, _ = ours_cpu(u.cpu())  # the pure-PyTorch twin
    print(
        f"{kind}: kernel vs module {(y_ours - y_ref).abs().max().item():.2e}, "
        f"torch twin vs mamba_ssm {(y_torch.cuda() - y_ref).abs().max().item():.2e}"
    )
    assert (y_ours - y_ref).abs().max() < 1e-4
    assert (y_torch.cuda() - y_ref).abs().max() < 1e-3

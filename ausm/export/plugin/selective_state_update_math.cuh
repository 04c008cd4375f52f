// The arithmetic of one SelectiveStateUpdate element, shared by the CUDA kernel and the
// harness's CPU reference (so the CPU run in CI checks these formulas against PyTorch,
// and a GPU run checks the kernel's indexing and reductions on top).
//
// Formulas match ausm/export/ssm_op.py (and mamba_ssm's selective_state_update):
//   dt' = clip(softplus(dt + dt_bias), dt_min, dt_max)
//   h   = h * exp(dt' * A) + (dt' * x) * B
//   y   = (sum_n h * C + D * x) * (gate ? silu(z) : 1)
// All fp32: the recurrent state must not be computed in half precision.
#pragma once

#if defined(__CUDACC__)
#define AUSM_HD __host__ __device__ __forceinline__
#else
#define AUSM_HD inline
#endif

#include <math.h>

namespace ausm {

// Above this softplus(v) == v in fp32; the threshold torch.nn.functional.softplus uses.
constexpr float kSoftplusThreshold = 20.0f;

AUSM_HD float softplus(float v) {
  return v > kSoftplusThreshold ? v : log1pf(expf(v));
}

AUSM_HD float silu(float v) { return v / (1.0f + expf(-v)); }

// Per (b, h, p) row: the discretised step and the input scale, computed once per row.
struct RowStep {
  float dt;   // dt' after softplus and clipping
  float dtx;  // dt' * x
};

AUSM_HD RowStep row_step(float x, float dt_raw, float dt_bias, float dt_min, float dt_max) {
  float dt = softplus(dt_raw + dt_bias);
  dt = fminf(fmaxf(dt, dt_min), dt_max);
  return RowStep{dt, dt * x};
}

// One state element: decay the old value, add the input.
AUSM_HD float update_element(float h, float a, float b, RowStep s) {
  return h * expf(s.dt * a) + s.dtx * b;
}

// The row's output from the read-out sum: skip connection and optional gate.
AUSM_HD float row_output(float readout, float d, float x, float z, int gate) {
  float y = readout + d * x;
  return gate ? y * silu(z) : y;
}

}  // namespace ausm

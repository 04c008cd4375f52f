// Fused SelectiveStateUpdate: one pass over the recurrent state (read once, written once).
//
// Layout (contiguous, fp32), as the ONNX node ausm::SelectiveStateUpdate:
//   state_in, state_out [batch, heads, dim, dstate]   x, dt, z, y [batch, heads, dim]
//   A [heads, dim, dstate]   B, C [batch, heads, dstate]   D, dt_bias [heads, dim]
// state_out may equal state_in (in place); no other output may alias an input.
#pragma once

#include <cmath>
#include <cstdint>
#include <cuda_runtime_api.h>

namespace ausm {

struct SsmUpdateParams {
  int64_t batch = 0;
  int32_t heads = 0, dim = 0, dstate = 0;
  const float* state_in = nullptr;
  float* state_out = nullptr;
  const float* x = nullptr;
  const float* dt = nullptr;
  const float* A = nullptr;
  const float* B = nullptr;
  const float* C = nullptr;
  const float* D = nullptr;
  const float* z = nullptr;
  const float* dt_bias = nullptr;
  float* y = nullptr;
  int32_t gate = 1;
  float dt_min = 0.0f, dt_max = INFINITY;
};

// Enqueue the update on `stream`. Returns cudaErrorInvalidValue for bad sizes, else the
// launch status.
cudaError_t launchSelectiveStateUpdate(const SsmUpdateParams& p, cudaStream_t stream);

// Bytes the update must move at least (each tensor read or written once): the measure
// the bandwidth benchmark divides by the kernel time.
int64_t selectiveStateUpdateBytes(const SsmUpdateParams& p);

}  // namespace ausm

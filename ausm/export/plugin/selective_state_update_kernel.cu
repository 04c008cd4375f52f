// Fused SelectiveStateUpdate kernel (see selective_state_update_kernel.h for the layout).
//
// The update is memory bound: per state element it reads and writes 4 bytes each and
// does a handful of flops. So the kernel is organised around the state traffic:
//   * a group of GROUP threads owns one (b, h, p) row of dstate elements and walks it
//     in VEC-wide vectors, so a warp touches 32 * VEC consecutive floats of the state
//     per instruction (fully coalesced, 16-byte accesses when VEC = 4);
//   * every state element is loaded once and stored once; the row's read-out
//     sum_n h*C is reduced across the group with warp shuffles, never through memory;
//   * A, B and C are small and shared by many rows (A by every pixel, B/C by every
//     channel of a pixel) and stay in cache; only the state streams from DRAM.
#include "selective_state_update_kernel.h"
#include "selective_state_update_math.cuh"

namespace ausm {
namespace {

constexpr int kBlockThreads = 256;

template <int VEC> struct Vec;
template <> struct Vec<1> { using T = float; };
template <> struct Vec<4> { using T = float4; };

__device__ __forceinline__ float& lane(float& v, int) { return v; }
__device__ __forceinline__ float& lane(float4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

template <int VEC, int GROUP>
__global__ void __launch_bounds__(kBlockThreads)
selectiveStateUpdateKernel(SsmUpdateParams p) {
  using V = typename Vec<VEC>::T;
  const int64_t rows = p.batch * p.heads * p.dim;
  const int64_t row = (int64_t)blockIdx.x * (kBlockThreads / GROUP) + threadIdx.x / GROUP;
  const int g = threadIdx.x % GROUP;
  // Rows past the end still take part in the shuffles below (a full-warp mask needs
  // every lane), they just load and store nothing.
  const bool valid = row < rows;
  const int64_t r = valid ? row : 0;

  const int32_t pi = (int32_t)(r % p.dim);
  const int64_t bh = r / p.dim;                       // b * heads + h
  const int32_t hi = (int32_t)(bh % p.heads);
  const int64_t param_row = (int64_t)hi * p.dim + pi;  // row of A, D, dt_bias

  const float x = p.x[r];
  const RowStep s = row_step(x, p.dt[r], p.dt_bias[param_row], p.dt_min, p.dt_max);

  const V* state_in = reinterpret_cast<const V*>(p.state_in + r * p.dstate);
  V* state_out = reinterpret_cast<V*>(p.state_out + r * p.dstate);
  const V* A = reinterpret_cast<const V*>(p.A + param_row * p.dstate);
  const V* B = reinterpret_cast<const V*>(p.B + bh * p.dstate);
  const V* C = reinterpret_cast<const V*>(p.C + bh * p.dstate);

  float readout = 0.0f;
  const int nvec = p.dstate / VEC;
  for (int v = g; v < nvec; v += GROUP) {
    if (!valid) break;
    V h = state_in[v];
    V a = __ldg(A + v), b = __ldg(B + v), c = __ldg(C + v);
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      float hn = update_element(lane(h, i), lane(a, i), lane(b, i), s);
      lane(h, i) = hn;
      readout += hn * lane(c, i);
    }
    state_out[v] = h;
  }
#pragma unroll
  for (int off = GROUP / 2; off > 0; off >>= 1)
    readout += __shfl_xor_sync(0xffffffffu, readout, off, GROUP);

  if (valid && g == 0)
    p.y[r] = row_output(readout, p.D[param_row], x, p.gate ? p.z[r] : 0.0f, p.gate);
}

template <int VEC, int GROUP>
cudaError_t launch(const SsmUpdateParams& p, cudaStream_t stream) {
  const int64_t rows = p.batch * p.heads * p.dim;
  const int64_t rows_per_block = kBlockThreads / GROUP;
  const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  selectiveStateUpdateKernel<VEC, GROUP><<<(unsigned)blocks, kBlockThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

// As many threads per row as there are vectors in it (at most a warp), so no lane idles.
template <int VEC>
cudaError_t launchVec(const SsmUpdateParams& p, cudaStream_t stream) {
  const int nvec = p.dstate / VEC;
  if (nvec >= 32) return launch<VEC, 32>(p, stream);
  if (nvec >= 16) return launch<VEC, 16>(p, stream);
  if (nvec >= 8) return launch<VEC, 8>(p, stream);
  if (nvec >= 4) return launch<VEC, 4>(p, stream);
  if (nvec >= 2) return launch<VEC, 2>(p, stream);
  return launch<VEC, 1>(p, stream);
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

}  // namespace

cudaError_t launchSelectiveStateUpdate(const SsmUpdateParams& p, cudaStream_t stream) {
  if (p.batch < 0 || p.heads <= 0 || p.dim <= 0 || p.dstate <= 0) return cudaErrorInvalidValue;
  if (!p.state_in || !p.state_out || !p.x || !p.dt || !p.A || !p.B || !p.C || !p.D ||
      !p.dt_bias || !p.y || (p.gate && !p.z))
    return cudaErrorInvalidValue;
  if (p.batch == 0) return cudaSuccess;
  const bool vec4 = p.dstate % 4 == 0 && aligned16(p.state_in) && aligned16(p.state_out) &&
                    aligned16(p.A) && aligned16(p.B) && aligned16(p.C);
  return vec4 ? launchVec<4>(p, stream) : launchVec<1>(p, stream);
}

int64_t selectiveStateUpdateBytes(const SsmUpdateParams& p) {
  const int64_t rows = p.batch * p.heads * p.dim;
  const int64_t state = rows * p.dstate;
  const int64_t bc = p.batch * p.heads * p.dstate;
  const int64_t params = (int64_t)p.heads * p.dim;
  // state in + out; x, dt, y (+ z); B, C; A, D, dt_bias
  return 4 * (2 * state + rows * (p.gate ? 4 : 3) + 2 * bc + params * (p.dstate + 2));
}

}  // namespace ausm

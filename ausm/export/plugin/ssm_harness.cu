// Standalone harness for the SelectiveStateUpdate kernel: no TensorRT, no PyTorch.
//
//   ssm_harness info                       GPU name and peak DRAM bandwidth (JSON); exit 3 without a GPU
//   ssm_harness run IN OUT [--cpu]         inputs from IN, outputs (y, new state) to OUT, on
//                                          the GPU, or with --cpu through the same element
//                                          math on the host (no CUDA call at all)
//   ssm_harness bench B H P N [ITERS]      time the kernel on random data, state [B, H, P, N];
//                                          prints achieved and peak bandwidth (JSON)
//
// File format (little endian), written and read by ausm/export/kernel_harness.py:
//   IN : "AUSMSSU1" i64 batch, i32 heads, dim, dstate, gate, f32 dt_min, dt_max,
//        then f32 arrays state, x, dt, A, B, C, D, z, dt_bias (layout of the kernel header)
//   OUT: "AUSMSSO1" then f32 arrays y, new_state
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "selective_state_update_kernel.h"
#include "selective_state_update_math.cuh"

namespace {

struct Problem {
  int64_t batch = 0;
  int32_t heads = 0, dim = 0, dstate = 0, gate = 1;
  float dt_min = 0.0f, dt_max = INFINITY;
  // state, x, dt, A, B, C, D, z, dt_bias
  std::vector<float> t[9];

  int64_t rows() const { return batch * heads * dim; }
  int64_t count(int i) const {
    const int64_t bc = batch * heads * dstate, par = (int64_t)heads * dim;
    const int64_t n[9] = {rows() * dstate, rows(), rows(), par * dstate, bc, bc, par, rows(), par};
    return n[i];
  }
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "ssm_harness: %s\n", msg.c_str());
  std::exit(2);
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die(std::string(what) + ": " + cudaGetErrorString(e));
}

template <typename T> void get(FILE* f, T& v) {
  if (std::fread(&v, sizeof(T), 1, f) != 1) die("input file truncated");
}

Problem readProblem(const char* path) {
  FILE* f = std::fopen(path, "rb");
  if (!f) die(std::string("cannot open ") + path);
  char magic[8];
  if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, "AUSMSSU1", 8) != 0)
    die(std::string(path) + " is not a harness input file");
  Problem p;
  get(f, p.batch); get(f, p.heads); get(f, p.dim); get(f, p.dstate); get(f, p.gate);
  get(f, p.dt_min); get(f, p.dt_max);
  for (int i = 0; i < 9; ++i) {
    p.t[i].resize(p.count(i));
    if (std::fread(p.t[i].data(), sizeof(float), p.t[i].size(), f) != p.t[i].size())
      die("input file truncated");
  }
  std::fclose(f);
  return p;
}

void writeOutputs(const char* path, const std::vector<float>& y, const std::vector<float>& state) {
  FILE* f = std::fopen(path, "wb");
  if (!f) die(std::string("cannot write ") + path);
  std::fwrite("AUSMSSO1", 1, 8, f);
  std::fwrite(y.data(), sizeof(float), y.size(), f);
  std::fwrite(state.data(), sizeof(float), state.size(), f);
  std::fclose(f);
}

// The reference: the kernel's element math, one row at a time, summing the read-out in
// order. Shares ausm::row_step / update_element / row_output with the kernel.
void runCpu(const Problem& p, std::vector<float>& y, std::vector<float>& state) {
  state = p.t[0];
  y.assign(p.rows(), 0.0f);
  for (int64_t r = 0; r < p.rows(); ++r) {
    const int64_t pi = r % p.dim, bh = r / p.dim, hi = bh % p.heads;
    const int64_t prow = hi * p.dim + pi;
    const ausm::RowStep s = ausm::row_step(p.t[1][r], p.t[2][r], p.t[8][prow], p.dt_min, p.dt_max);
    float readout = 0.0f;
    for (int n = 0; n < p.dstate; ++n) {
      float& h = state[r * p.dstate + n];
      h = ausm::update_element(h, p.t[3][prow * p.dstate + n], p.t[4][bh * p.dstate + n], s);
      readout += h * p.t[5][bh * p.dstate + n];
    }
    y[r] = ausm::row_output(readout, p.t[6][prow], p.t[1][r], p.t[7][r], p.gate);
  }
}

struct DeviceProblem {
  float* buf[9] = {};
  float* state_out = nullptr;
  float* y = nullptr;
  ausm::SsmUpdateParams params;

  explicit DeviceProblem(const Problem& p) {
    for (int i = 0; i < 9; ++i) {
      check(cudaMalloc(&buf[i], p.count(i) * sizeof(float)), "cudaMalloc");
      check(cudaMemcpy(buf[i], p.t[i].data(), p.count(i) * sizeof(float), cudaMemcpyHostToDevice),
            "cudaMemcpy");
    }
    check(cudaMalloc(&state_out, p.count(0) * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&y, p.rows() * sizeof(float)), "cudaMalloc");
    params.batch = p.batch; params.heads = p.heads; params.dim = p.dim; params.dstate = p.dstate;
    params.state_in = buf[0]; params.state_out = state_out;
    params.x = buf[1]; params.dt = buf[2]; params.A = buf[3]; params.B = buf[4];
    params.C = buf[5]; params.D = buf[6]; params.z = buf[7]; params.dt_bias = buf[8];
    params.y = y; params.gate = p.gate; params.dt_min = p.dt_min; params.dt_max = p.dt_max;
  }
  ~DeviceProblem() {
    for (float* b : buf) cudaFree(b);
    cudaFree(state_out);
    cudaFree(y);
  }
};

void runGpu(const Problem& p, std::vector<float>& y, std::vector<float>& state) {
  DeviceProblem d(p);
  check(ausm::launchSelectiveStateUpdate(d.params, nullptr), "launch");
  check(cudaDeviceSynchronize(), "kernel");
  y.resize(p.rows());
  state.resize(p.count(0));
  check(cudaMemcpy(y.data(), d.y, y.size() * sizeof(float), cudaMemcpyDeviceToHost), "copy y");
  check(cudaMemcpy(state.data(), d.state_out, state.size() * sizeof(float), cudaMemcpyDeviceToHost),
        "copy state");
}

bool haveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

// Theoretical DRAM bandwidth: memory clock (kHz) x 2 (double data rate) x bus width (bytes).
double peakBandwidth(int dev) {
  int clock_khz = 0, bus_bits = 0;
  check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev), "memory clock");
  check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev), "bus width");
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0);
}

int info() {
  if (!haveGpu()) {
    std::printf("{\"gpu\": null, \"reason\": \"no CUDA device visible\"}\n");
    return 3;
  }
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "device properties");
  std::printf("{\"gpu\": \"%s\", \"cc\": \"%d.%d\", \"peak_bytes_per_s\": %.6g}\n", prop.name,
              prop.major, prop.minor, peakBandwidth(0));
  return 0;
}

int bench(int64_t batch, int heads, int dim, int dstate, int iters) {
  if (!haveGpu()) {
    std::printf("{\"gpu\": null, \"reason\": \"no CUDA device visible\"}\n");
    return 3;
  }
  Problem p;
  p.batch = batch; p.heads = heads; p.dim = dim; p.dstate = dstate;
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < 9; ++i) {
    p.t[i].resize(p.count(i));
    for (float& v : p.t[i]) v = i == 3 ? -std::fabs(normal(rng)) : normal(rng);
  }
  DeviceProblem d(p);
  cudaEvent_t t0, t1;
  check(cudaEventCreate(&t0), "event");
  check(cudaEventCreate(&t1), "event");
  for (int i = 0; i < 10; ++i) check(ausm::launchSelectiveStateUpdate(d.params, nullptr), "launch");
  // Alternate the two state buffers, as the runtime does frame to frame, so every
  // iteration reads the state the previous one wrote.
  check(cudaEventRecord(t0), "record");
  for (int i = 0; i < iters; ++i) {
    std::swap(d.buf[0], d.state_out);
    d.params.state_in = d.buf[0];
    d.params.state_out = d.state_out;
    check(ausm::launchSelectiveStateUpdate(d.params, nullptr), "launch");
  }
  check(cudaEventRecord(t1), "record");
  check(cudaEventSynchronize(t1), "kernel");
  float ms = 0.0f;
  check(cudaEventElapsedTime(&ms, t0, t1), "elapsed");
  const double seconds = ms * 1e-3 / iters;
  const double bytes = (double)ausm::selectiveStateUpdateBytes(d.params);
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "device properties");
  const double peak = peakBandwidth(0);
  std::printf("{\"gpu\": \"%s\", \"state_shape\": [%lld, %d, %d, %d], \"time_us\": %.3f, "
              "\"bytes\": %.0f, \"bytes_per_s\": %.6g, \"peak_bytes_per_s\": %.6g, "
              "\"fraction_of_peak\": %.4f}\n",
              prop.name, (long long)batch, heads, dim, dstate, seconds * 1e6, bytes,
              bytes / seconds, peak, bytes / seconds / peak);
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: ssm_harness info | run IN OUT [--cpu] | bench BATCH HEADS DIM DSTATE [ITERS]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  const std::string cmd = argv[1];
  if (cmd == "info") return info();
  if (cmd == "run") {
    if (argc < 4) usage();
    const bool cpu = argc > 4 && std::string(argv[4]) == "--cpu";
    if (!cpu && !haveGpu()) {
      std::fprintf(stderr, "ssm_harness: no CUDA device visible (use --cpu for the host reference)\n");
      return 3;
    }
    Problem p = readProblem(argv[2]);
    std::vector<float> y, state;
    cpu ? runCpu(p, y, state) : runGpu(p, y, state);
    writeOutputs(argv[3], y, state);
    return 0;
  }
  if (cmd == "bench") {
    if (argc < 6) usage();
    return bench(std::atoll(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
                 argc > 6 ? std::atoi(argv[6]) : 200);
  }
  usage();
}

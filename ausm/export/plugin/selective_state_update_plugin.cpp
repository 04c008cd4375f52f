// TensorRT plugin around launchSelectiveStateUpdate (see selective_state_update_plugin.h).
#include "selective_state_update_plugin.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "selective_state_update_kernel.h"

using namespace nvinfer1;

namespace ausm {
namespace {

// Input order of the ONNX node (ssm_op.INPUTS) and the ranks the kernel's layout needs.
enum Input { kState, kX, kDt, kA, kB, kC, kD, kZ, kDtBias, kNbInputs };
constexpr int32_t kRanks[kNbInputs] = {4, 3, 3, 3, 3, 3, 2, 3, 2};

void report(char const* what) { std::fprintf(stderr, "[ausm SelectiveStateUpdate] %s\n", what); }

// The ONNX parser passes node attributes as plugin fields; accept the integer and float
// widths it may choose, so the plugin does not depend on one parser version's mapping.
bool readInt(PluginField const& f, int32_t& out) {
  if (f.data == nullptr || f.length < 1) return false;
  switch (f.type) {
    case PluginFieldType::kINT8: out = *static_cast<int8_t const*>(f.data); return true;
    case PluginFieldType::kINT16: out = *static_cast<int16_t const*>(f.data); return true;
    case PluginFieldType::kINT32: out = *static_cast<int32_t const*>(f.data); return true;
    case PluginFieldType::kINT64:
      out = static_cast<int32_t>(*static_cast<int64_t const*>(f.data));
      return true;
    default: return false;
  }
}

bool readFloat(PluginField const& f, float& out) {
  if (f.data == nullptr || f.length < 1) return false;
  switch (f.type) {
    case PluginFieldType::kFLOAT32: out = *static_cast<float const*>(f.data); return true;
    case PluginFieldType::kFLOAT64:
      out = static_cast<float>(*static_cast<double const*>(f.data));
      return true;
    default: return false;
  }
}

}  // namespace

SelectiveStateUpdatePlugin::SelectiveStateUpdatePlugin(int32_t gate, float dtMin, float dtMax, std::string ns)
    : mGate(gate), mDtMin(dtMin), mDtMax(dtMax), mNamespace(std::move(ns)) {}

IPluginCapability* SelectiveStateUpdatePlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
  switch (type) {
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
  }
  return nullptr;
}

IPluginV3* SelectiveStateUpdatePlugin::clone() noexcept {
  try {
    return new SelectiveStateUpdatePlugin(mGate, mDtMin, mDtMax, mNamespace);
  } catch (...) {
    return nullptr;
  }
}

int32_t SelectiveStateUpdatePlugin::configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                                    DynamicPluginTensorDesc const*,
                                                    int32_t nbOutputs) noexcept {
  if (nbInputs != kNbInputs || nbOutputs != 2) {
    report("expects 9 inputs (state, x, dt, A, B, C, D, z, dt_bias) and 2 outputs");
    return -1;
  }
  for (int32_t i = 0; i < kNbInputs; ++i) {
    if (in[i].desc.dims.nbDims != kRanks[i]) {
      report("input rank does not match the node's layout (state [b,h,p,n], x [b,h,p], ...)");
      return -1;
    }
  }
  return 0;
}

int32_t SelectiveStateUpdatePlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs,
                                                       DataType const*, int32_t) const noexcept {
  for (int32_t i = 0; i < nbOutputs; ++i) outputTypes[i] = DataType::kFLOAT;
  return 0;
}

int32_t SelectiveStateUpdatePlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs,
                                                    DimsExprs const*, int32_t, DimsExprs* outputs,
                                                    int32_t nbOutputs, IExprBuilder&) noexcept {
  if (nbInputs != kNbInputs || nbOutputs != 2) return -1;
  outputs[0] = inputs[kX];      // y [b, h, p]
  outputs[1] = inputs[kState];  // new state [b, h, p, n]
  return 0;
}

bool SelectiveStateUpdatePlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut,
                                                           int32_t, int32_t) noexcept {
  // fp32, linear (contiguous) only: the state is never computed in half precision
  return inOut[pos].desc.format == TensorFormat::kLINEAR && inOut[pos].desc.type == DataType::kFLOAT;
}

int32_t SelectiveStateUpdatePlugin::onShapeChange(PluginTensorDesc const* in, int32_t nbInputs,
                                                  PluginTensorDesc const*, int32_t nbOutputs) noexcept {
  if (nbInputs != kNbInputs || nbOutputs != 2) return -1;
  for (int32_t i = 0; i < kNbInputs; ++i)
    if (in[i].dims.nbDims != kRanks[i]) return -1;
  return 0;
}

int32_t SelectiveStateUpdatePlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const*,
                                            void const* const* inputs, void* const* outputs, void*,
                                            cudaStream_t stream) noexcept {
  Dims const& s = inputDesc[kState].dims;
  SsmUpdateParams p;
  p.batch = s.d[0];
  p.heads = static_cast<int32_t>(s.d[1]);
  p.dim = static_cast<int32_t>(s.d[2]);
  p.dstate = static_cast<int32_t>(s.d[3]);
  p.state_in = static_cast<float const*>(inputs[kState]);
  p.x = static_cast<float const*>(inputs[kX]);
  p.dt = static_cast<float const*>(inputs[kDt]);
  p.A = static_cast<float const*>(inputs[kA]);
  p.B = static_cast<float const*>(inputs[kB]);
  p.C = static_cast<float const*>(inputs[kC]);
  p.D = static_cast<float const*>(inputs[kD]);
  p.z = static_cast<float const*>(inputs[kZ]);
  p.dt_bias = static_cast<float const*>(inputs[kDtBias]);
  p.y = static_cast<float*>(outputs[0]);
  p.state_out = static_cast<float*>(outputs[1]);
  p.gate = mGate;
  p.dt_min = mDtMin;
  p.dt_max = mDtMax;
  cudaError_t err = launchSelectiveStateUpdate(p, stream);
  if (err != cudaSuccess) {
    report(cudaGetErrorString(err));
    return -1;
  }
  return 0;
}

IPluginV3* SelectiveStateUpdatePlugin::attachToContext(IPluginResourceContext*) noexcept {
  return clone();  // no per-context resources
}

PluginFieldCollection const* SelectiveStateUpdatePlugin::getFieldsToSerialize() noexcept {
  mFields = {PluginField("gate", &mGate, PluginFieldType::kINT32, 1),
             PluginField("dt_min", &mDtMin, PluginFieldType::kFLOAT32, 1),
             PluginField("dt_max", &mDtMax, PluginFieldType::kFLOAT32, 1)};
  mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
  mFieldCollection.fields = mFields.data();
  return &mFieldCollection;
}

SelectiveStateUpdateCreator::SelectiveStateUpdateCreator() {
  mFields = {PluginField("gate", nullptr, PluginFieldType::kINT32, 1),
             PluginField("dt_min", nullptr, PluginFieldType::kFLOAT32, 1),
             PluginField("dt_max", nullptr, PluginFieldType::kFLOAT32, 1)};
  mFieldCollection.nbFields = static_cast<int32_t>(mFields.size());
  mFieldCollection.fields = mFields.data();
}

IPluginV3* SelectiveStateUpdateCreator::createPlugin(char const*, PluginFieldCollection const* fc,
                                                     TensorRTPhase) noexcept {
  // Defaults of the ONNX function's attributes (ssm_op.DEFAULT_ATTRS).
  int32_t gate = 1;
  float dtMin = 0.0f, dtMax = std::numeric_limits<float>::infinity();
  for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i) {
    PluginField const& f = fc->fields[i];
    if (f.name == nullptr) continue;
    bool ok = true;
    if (std::strcmp(f.name, "gate") == 0) ok = readInt(f, gate);
    else if (std::strcmp(f.name, "dt_min") == 0) ok = readFloat(f, dtMin);
    else if (std::strcmp(f.name, "dt_max") == 0) ok = readFloat(f, dtMax);
    if (!ok) {
      report("an attribute has an unsupported field type");
      return nullptr;
    }
  }
  try {
    return new SelectiveStateUpdatePlugin(gate, dtMin, dtMax, mNamespace);
  } catch (...) {
    return nullptr;
  }
}

REGISTER_TENSORRT_PLUGIN(SelectiveStateUpdateCreator);

}  // namespace ausm

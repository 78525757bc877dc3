// The whole model on the device (design.md §5): every tensor of the model-spec §2.4 inventory in
// its checkpoint format, streamed from the memory-mapped shards through the staging ring, so peak
// host memory stays one staging ring plus one expert's scales however large the model is. Routed
// experts of a layer are stacked (one buffer per w1/w2/w3) for the grouped expert kernels.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/vulkan/device_weights.h"
#include "vk/device.h"
#include "vk/memory.h"
#include "weights/model_config.h"
#include "weights/model_dir.h"

namespace dsv4::gpu {

struct DeviceHc {  // hc_*_fn [M, n*D], _base [M], _scale [S]: all F32
  DeviceMatrix fn, base, scale;
};

struct DeviceCompressor {
  DeviceMatrix wkv, wgate;  // BF16 [coff*d, D], back to back in memory
  DeviceMatrix ape;         // F32 [ratio, coff*d]
  DeviceMatrix norm;        // BF16 [1, d]
  DeviceMatrix wkv_wgate;   // wkv and wgate as one [2*coff*d, D] matrix (one GEMV); rows 0 where they do not abut
};

struct DeviceAttention {
  DeviceMatrix wq_a, wq_b, wkv, wo_a, wo_b;  // FP8 (any format the checkpoint holds)
  DeviceMatrix wq_a_wkv;  // wq_a's rows then wkv's, one matrix over the same input (one decode GEMV;
                          // wq_a and wkv are views into it); rows 0 where they cannot abut
  DeviceMatrix q_norm, kv_norm;              // BF16 [1, n]
  DeviceMatrix attn_sink;                    // F32 [1, H]
  bool has_compressor = false, has_indexer = false;
  DeviceCompressor compressor;
  DeviceMatrix index_wq_b, index_weights_proj;
  DeviceCompressor index_compressor;
  DeviceMatrix compressors;  // ratio 4: compressor.wkv_wgate's rows then index_compressor's (one decode
                             // GEMV; both are views into it); rows 0 otherwise
};

struct DeviceMoe {
  DeviceMatrix gate;              // BF16 [E, D]
  DeviceMatrix bias;              // F32 [1, E] (scored layers)
  DeviceMatrix tid2eid;           // int32 values as F32-format bytes [vocab, k] (hash layers)
  DeviceMatrix w1, w2, w3;        // routed experts, stacks of E
  DeviceMatrix s1, s2, s3;        // shared expert
};

struct DeviceBlock {
  DeviceMatrix attn_norm, ffn_norm;  // BF16 [1, D]
  DeviceHc hc_attn, hc_ffn;
  DeviceAttention attn;
  DeviceMoe ffn;
};

struct LoadProgress {
  uint64_t done = 0, total = 0;  // tensor bytes
  double seconds = 0;
};
using ProgressFn = std::function<void(const LoadProgress&)>;

class DeviceModel {
 public:
  // Uploads every tensor of the main model (MTP blocks are not loaded). Throws ModelError naming
  // the tensor at fault, vk::OutOfDeviceMemory naming what did not fit.
  DeviceModel(vk::Device& device, const ModelDir& dir, const ProgressFn& progress = {});

  const ModelConfig& cfg() const { return cfg_; }
  DeviceMatrix embed, head, norm;  // embed/head BF16 [vocab, D]; norm BF16 [1, D]
  DeviceHc hc_head;
  std::vector<DeviceBlock> layers;
  uint64_t device_bytes() const { return bytes_; }

 private:
  class Uploader;
  ModelConfig cfg_;
  std::vector<vk::Buffer> buffers_;
  uint64_t bytes_ = 0;
};

}  // namespace dsv4::gpu

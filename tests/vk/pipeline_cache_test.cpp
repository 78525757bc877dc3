// The on-disk pipeline cache: saved, reloaded by a second cache object, reused; corrupt and
// foreign files ignored.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/vk_harness.h"
#include "vk/kernel.h"
#include "vk/pipeline_cache.h"

namespace dsv4::test {
namespace {

namespace fs = std::filesystem;

class PipelineCacheTest : public VulkanTest {
 protected:
  void SetUp() override {
    VulkanTest::SetUp();
    dir_ = fs::temp_directory_path() / ("dsv4_pipeline_cache_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    fs::remove_all(dir_);
    VulkanTest::TearDown();
  }
  fs::path dir_;
};

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_F(PipelineCacheTest, SecondCreationReusesTheSavedCache) {
  std::vector<uint8_t> saved;
  fs::path file;
  {
    vk::PipelineCache cache(device(), dir_);
    EXPECT_EQ(cache.loaded_bytes(), 0u);  // nothing on disk yet
    vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0}, &cache);
    vk::Kernel k2(device(), {"test/spec_constants", 1, 0, {{0, 3}, {1, 16}}, 0}, &cache);
    cache.save();
    file = cache.file();
    saved = read_file(file);
  }
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(file.filename().string(), vk::pipeline_cache_file_name(device().caps()));
  ASSERT_GE(saved.size(), 32u);
  EXPECT_TRUE(vk::pipeline_cache_header_matches(saved, device().caps()));

  vk::PipelineCache again(device(), dir_);
  EXPECT_EQ(again.loaded_bytes(), saved.size()) << "the saved cache was not accepted";
  vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0}, &again);
  RecordProperty("saved_bytes", std::to_string(saved.size()));
  RecordProperty("feedback", k.cache_hit().has_value() ? (*k.cache_hit() ? "hit" : "miss") : "none");
  if (k.cache_hit().has_value() && saved.size() > 32) {
    // The driver stores pipelines in its cache (more than a header) and reports feedback.
    EXPECT_TRUE(*k.cache_hit()) << "pipeline creation feedback reports a cache miss";
  }
  const std::vector<uint8_t> data = again.data();
  EXPECT_TRUE(vk::pipeline_cache_header_matches(data, device().caps()));
  EXPECT_GE(data.size(), saved.size() > 32 ? 33u : 32u);
}

TEST_F(PipelineCacheTest, CorruptOrForeignFilesAreIgnored) {
  fs::create_directories(dir_);
  const fs::path file = dir_ / vk::pipeline_cache_file_name(device().caps());
  {
    std::ofstream out(file, std::ios::binary);
    out << "this is not a pipeline cache, just garbage of some length........";
  }
  {
    vk::PipelineCache cache(device(), dir_);
    EXPECT_EQ(cache.loaded_bytes(), 0u);
    vk::Kernel k(device(), {"test/affine_u32", 2, 12, {}, 0}, &cache);
  }  // destructor saves a valid cache over the garbage
  EXPECT_TRUE(vk::pipeline_cache_header_matches(read_file(file), device().caps()));

  // A valid header from another device (vendor id changed): ignored too.
  std::vector<uint8_t> foreign = read_file(file);
  foreign[8] ^= 0xff;
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(foreign.data()), std::streamsize(foreign.size()));
  }
  vk::PipelineCache cache(device(), dir_);
  EXPECT_EQ(cache.loaded_bytes(), 0u);
}

TEST_F(PipelineCacheTest, SaveIsAtomicAndLeavesNoTemporaryFiles) {
  {
    vk::PipelineCache cache(device(), dir_);
    vk::Kernel k(device(), {"test/add_u32", 1, 4, {}, 0}, &cache);
    cache.save();
    cache.save();
  }
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".bin") << e.path();
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace dsv4::test

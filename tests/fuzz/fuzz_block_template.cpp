// Fuzzes getblocktemplate's result object as the node sends it:
// block_template::from_json, then the pool's coinbase built from the template
// (the properties are in template_check.hpp).

#include "template_check.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bmm::fuzz::check_template({reinterpret_cast<const char*>(data), size});
    return 0;
}

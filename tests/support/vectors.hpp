#pragma once
// Test support: the real chain data in tests/vectors/ and small helpers to
// read Bitcoin serialisation. Header-only so that every test can use it.

#include "bmm/hex.hpp"
#include "vectors_dir.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace bmm::test {

inline std::vector<unsigned char> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + p.string() +
                                 " (run the test through ctest, or set BMM_SOURCE_DIR to the checkout)");
    }
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string read_text(const std::filesystem::path& p) {
    auto v = read_file(p);
    return {v.begin(), v.end()};
}

inline std::vector<unsigned char> hex_bytes(std::string_view h) {
    auto v = from_hex(h);
    if (!v) {
        throw std::runtime_error("bad hex in test vector: " + std::string(h.substr(0, 40)));
    }
    return *v;
}

// Reverses a display-order hash into internal byte order (or back).
inline std::vector<unsigned char> reversed(std::vector<unsigned char> v) {
    std::reverse(v.begin(), v.end());
    return v;
}

// A cursor over Bitcoin's serialisation.
struct reader {
    const std::vector<unsigned char>& buf;
    std::size_t pos = 0;

    void need(std::size_t n) const {
        if (pos + n > buf.size()) {
            throw std::runtime_error("truncated serialisation");
        }
    }
    std::uint64_t le(int bytes) {
        need(static_cast<std::size_t>(bytes));
        std::uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i) {
            v = (v << 8) | buf[pos + static_cast<std::size_t>(i)];
        }
        pos += static_cast<std::size_t>(bytes);
        return v;
    }
    std::uint64_t varint() {
        const auto first = le(1);
        if (first < 0xfd) {
            return first;
        }
        if (first == 0xfd) {
            return le(2);
        }
        if (first == 0xfe) {
            return le(4);
        }
        return le(8);
    }
    void skip(std::size_t n) {
        need(n);
        pos += n;
    }
};

// Splits a block's transactions (no witness data) into their raw bytes.
inline std::vector<std::vector<unsigned char>> split_transactions(const std::vector<unsigned char>& block) {
    reader r{block, 80};
    const auto count = r.varint();
    std::vector<std::vector<unsigned char>> txs;
    for (std::uint64_t t = 0; t < count; ++t) {
        const std::size_t start = r.pos;
        r.skip(4);
        const auto nin = r.varint();
        for (std::uint64_t i = 0; i < nin; ++i) {
            r.skip(36);
            r.skip(r.varint());
            r.skip(4);
        }
        const auto nout = r.varint();
        for (std::uint64_t i = 0; i < nout; ++i) {
            r.skip(8);
            r.skip(r.varint());
        }
        r.skip(4);
        txs.emplace_back(block.begin() + static_cast<std::ptrdiff_t>(start),
                         block.begin() + static_cast<std::ptrdiff_t>(r.pos));
    }
    if (r.pos != block.size()) {
        throw std::runtime_error("trailing bytes after the last transaction");
    }
    return txs;
}

// Reads a JSON file with simdjson; the document stays alive with the parser.
struct json_file {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    explicit json_file(const std::filesystem::path& p) { root = parser.load(p.string()); }
    std::string str(const char* key) const { return std::string(std::string_view(root[key])); }
};

}  // namespace bmm::test

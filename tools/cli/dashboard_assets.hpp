#pragma once
// The dashboard's files, embedded in the binary at build time (tools/cli/embed.cmake).

#include <cstddef>
#include <string_view>

namespace procactor::cli {

struct dashboard_asset {
  const char* path;          // "/index.html"
  const char* content_type;
  const char* data;
  std::size_t size;
};

/// The asset served at @p path, or null.
const dashboard_asset* find_dashboard_asset(std::string_view path) noexcept;

}  // namespace procactor::cli

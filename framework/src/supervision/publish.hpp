#pragma once
// What a supervisor tells the tree's registry (registry/registry.hpp) about its children and
// itself: one rewrite of the child's entry per lifecycle step, and an event for restarts, abnormal
// exits and give-ups. A no-op when the process has no registry (registry::active() is null).

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "procactor/exit_reason.hpp"
#include "registry/registry.hpp"

namespace procactor::detail {

struct child;

/// Publishes @p c's entry in state @p st.
void publish_child(const child& c, registry::node_state st) noexcept;
/// Publishes a supervisor's own entry (the root's: nobody above it does).
void publish_supervisor(const std::string& path, pid_t pid, registry::node_state st) noexcept;
/// Counts @p n messages left unread in mailboxes removed with them (tree::left_unread()).
void publish_left_unread(std::uint64_t n) noexcept;
/// What the tree's mailboxes held when they were removed at its end (wire::remove_tree_mailboxes):
/// @p n messages, added to registry @p p (null: nobody is left to read it) and logged
/// (`messages_lost`, from @p source about @p subject: "... when " + @p when). Nothing if 0.
void report_left_unread(std::uint64_t n, registry::publisher* p, std::string_view source, std::string_view subject,
                        std::string_view when) noexcept;
/// Appends an event about @p path.
void publish_event(registry::event_kind k, const std::string& path, const std::string& detail) noexcept;

}  // namespace procactor::detail

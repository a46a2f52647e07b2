#pragma once
// cpu_relax: one pause of a spin loop (lets the sibling hyper-thread run, saves power).

namespace procactor::ipc {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace procactor::ipc

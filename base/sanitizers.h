// Whether this translation unit is built with AddressSanitizer (g++ and
// clang++ say so differently). For the few places that must allow what the
// sanitizer runtime itself does, such as a test's seccomp filter.
#ifndef ISOSCOPE_BASE_SANITIZERS_H_
#define ISOSCOPE_BASE_SANITIZERS_H_

namespace isoscope {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace isoscope

#endif  // ISOSCOPE_BASE_SANITIZERS_H_

// fmt's compiled part, built from fmt's own headers into this project when
// ISOSCOPE_STATIC_DEPS links isoscope's libraries statically (see
// cmake/static_deps.cmake). Debian ships fmt's implementation only as a
// shared libfmt, and that library needs the shared libstdc++, which would
// undo linking libstdc++ statically into isoscope. format-inl.h holds the
// definitions; the two templates below are the ones format.h declares
// `extern` for char and isoscope calls.
#include <fmt/format-inl.h>

namespace fmt::detail {
template char decimal_point_impl<char>(locale_ref);
template thousands_sep_result<char> thousands_sep_impl<char>(locale_ref);
}  // namespace fmt::detail

// `isoscope run|compare --image LAYOUT:TAG`: an image of an OCI image layout
// (what `umoci init/new/repack`, `skopeo copy ... oci:LAYOUT:TAG` or `buildah
// push ... oci:LAYOUT:TAG` write) as a workload. Debian's umoci unpacks it
// into a runtime bundle under isoscope's cache, once per image manifest;
// the bundle then runs as `--bundle` runs it (bundle_workload.h).
#ifndef ISOSCOPE_SUPERVISOR_OCI_IMAGE_H_
#define ISOSCOPE_SUPERVISOR_OCI_IMAGE_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"

namespace isoscope {

struct ImageReference {
  std::string layout;  // the layout directory
  std::string tag;     // its index.json's org.opencontainers.image.ref.name
};

// "LAYOUT:TAG", split at the last ':' (a layout path may hold one);
// kInvalidArgument when either side is empty.
Result<ImageReference> ParseImageReference(std::string_view text);

// The digest ("sha256:<hex>") of the manifest `tag` names in the layout's
// index.json; kInvalidArgument when the layout or the tag is not there.
Result<std::string> ManifestDigest(const ImageReference& image);

// $XDG_CACHE_HOME/isoscope/images, else ~/.cache/isoscope/images.
std::filesystem::path DefaultImageCacheDir();

struct UnpackedImage {
  std::string bundle;  // the bundle directory in the cache
  std::string digest;  // the manifest digest it was unpacked from
};

// The bundle of `image` under `cache_dir`: <cache_dir>/<digest hex>,
// unpacked there by `umoci unpack` (--rootless when not root) unless an
// earlier run did. Unpacked into a temporary directory beside it and
// renamed into place, so a bundle in the cache is always whole, whichever
// of two concurrent isoscopes wins. kUnavailable when umoci is not
// installed; kInvalidArgument with umoci's own words when it fails.
//
// The cached rootfs is the one later runs of the same image use: a
// workload whose policy lets it write its root (native always; ptrace and
// the container as the policy allows) changes it for them. Remove the
// directory to start afresh.
Result<UnpackedImage> UnpackImage(const ImageReference& image,
                                  const std::filesystem::path& cache_dir);

// ParseImageReference, then UnpackImage into DefaultImageCacheDir().
Result<UnpackedImage> UnpackImage(std::string_view reference);

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_OCI_IMAGE_H_

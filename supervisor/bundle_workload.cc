#include "supervisor/bundle_workload.h"

#include <filesystem>

#include <fmt/format.h>

#include "supervisor/oci_image.h"
#include "supervisor/workload_env.h"

namespace isoscope {

Result<SourcedBundle> LoadBundleOrImage(const std::string& bundle_dir,
                                        const std::string& image) {
  SourcedBundle sourced;
  std::string dir = bundle_dir;
  if (!image.empty()) {
    auto unpacked = UnpackImage(image);
    if (!unpacked) return tl::unexpected(unpacked.error());
    dir = unpacked->bundle;
    sourced.source.image = image;
    sourced.source.image_digest = unpacked->digest;
  }
  auto bundle = LoadOciBundle(dir);
  if (!bundle) return tl::unexpected(bundle.error());
  sourced.bundle = std::move(*bundle);
  sourced.source.bundle = sourced.bundle.dir;
  return sourced;
}

Result<Workload> BundleWorkload(const SourcedBundle& sourced,
                                const std::vector<std::string>& extra_env) {
  const OciBundle& bundle = sourced.bundle;
  // Resolved beneath the rootfs, so the host path it names has no symlink.
  auto cwd = CanonicalInRoot(bundle.rootfs, bundle.cwd);
  std::error_code ec;
  if (!cwd || !std::filesystem::is_directory(bundle.rootfs + *cwd, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}/config.json: process.cwd '{}' is not a "
                            "directory in the rootfs {}",
                            bundle.dir, bundle.cwd, bundle.rootfs));
  }
  auto executable = ResolveExecutableInRoot(bundle.rootfs, bundle.args.front(),
                                            bundle.cwd, bundle.env);
  if (!executable) return tl::unexpected(executable.error());
  Workload workload;
  workload.executable = std::move(*executable);
  workload.argv = bundle.args;
  workload.env = bundle.env;
  workload.env.insert(workload.env.end(), extra_env.begin(), extra_env.end());
  workload.workdir = bundle.cwd;
  workload.root = bundle.rootfs;
  workload.source = sourced.source;
  return workload;
}

Policy PolicyForBundle(const Policy& policy, const OciBundle& bundle) {
  Policy out = WithWorkdir(policy, bundle.cwd);
  if (!out.identity.uid && bundle.uid) out.identity.uid = bundle.uid;
  if (!out.identity.gid && bundle.gid) out.identity.gid = bundle.gid;
  return out;
}

}  // namespace isoscope

// Where a run's workload came from, when it is not a program of the host:
// an OCI bundle directory (`--bundle`), or an image of an OCI image layout
// (`--image`) and the manifest it named then. Recorded with the run (and
// the comparison), so a result says which image it measured.
#ifndef ISOSCOPE_SUPERVISOR_WORKLOAD_SOURCE_H_
#define ISOSCOPE_SUPERVISOR_WORKLOAD_SOURCE_H_

#include <string>

namespace isoscope {

struct WorkloadSource {
  // The bundle directory, absolute: as given to --bundle (symlinks
  // resolved), or where --image's image was unpacked in the image cache.
  std::string bundle;
  std::string image;         // --image's "LAYOUT:TAG" as given; else empty
  std::string image_digest;  // its manifest's digest ("sha256:..."); or empty
  bool operator==(const WorkloadSource&) const = default;
};

}  // namespace isoscope

#endif  // ISOSCOPE_SUPERVISOR_WORKLOAD_SOURCE_H_

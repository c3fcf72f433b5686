# Build definition of the services: a target each, in the groups below; compose.yaml runs them. Always call bake with `-f docker-bake.hcl`: with no file
# named, buildx also merges compose.yaml from this folder.
#   docker buildx bake -f docker-bake.hcl dev     # what `nox -s dev` runs (plus --no-cache)
#   docker buildx bake -f docker-bake.hcl --print # the resolved definition
# Each variable's description is the comment above it (buildx 0.13, the version this project
# supports, has no `description` attribute yet).

# Project name: image name prefix and the value of the mainza.project label that scopes cleanup
variable "PROJECT" {
  default = "mainza"
}
# Tag of the images built (dev: "dev"; prod: the commit)
variable "TAG" {
  default = "dev"
}
# A second tag for the same images, empty for none (prod: "latest")
variable "EXTRA_TAG" {
  default = ""
}
# Registry to push to (prod --push); empty: local names only
variable "IMAGE_REGISTRY" {
  default = ""
}
# Commit the images are built from (short hash; -dirty when the tree has edits). The sessions give each
# target its own GIT_COMMIT, BUILD_DATE, CACHE_BUST, SOURCE_DATE_EPOCH and SOURCE_DIGEST (the commit that
# last changed its inputs, and their fingerprint) in a bake file merged after this one
# (reports/bake-override-<group>.json); these variables are the defaults for a plain `docker buildx bake`.
variable "GIT_COMMIT" {
  default = "unknown"
}
# Build time, ISO 8601 UTC
variable "BUILD_DATE" {
  default = "1970-01-01T00:00:00Z"
}
# Changes to rebuild the build-info layers: epoch seconds in dev, the commit in prod
variable "CACHE_BUST" {
  default = "0"
}
# Timestamp (epoch seconds) BuildKit writes into the images instead of now: the commit time in prod,
# which makes image ids reproducible; empty in dev
variable "SOURCE_DATE_EPOCH" {
  default = ""
}
# org.opencontainers.image.source of the images
variable "SOURCE_URL" {
  default = "https://github.com/mainza/mainza"
}
# Base image of the backend
variable "PYTHON_IMAGE" {
  default = "docker.io/library/python:3.11-slim"
}
# Image the frontend is built in
variable "NODE_IMAGE" {
  default = "docker.io/library/node:20-slim"
}
# Image the frontend is served from
variable "NGINX_IMAGE" {
  default = "docker.io/library/nginx:1.27"
}
# Registry holding the shared build cache: <CACHE_REGISTRY>/<PROJECT>/<target>:branch-<branch>-<hash>, a ref per
# branch (`nox -s prod` adds a ref per identity of each target: ci/cache/refs.py)
variable "CACHE_REGISTRY" {
  default = "localhost:5000"
}
# Branch whose cache ref a build writes and reads (the sessions: CACHE_BRANCH, else the CI's branch
# variable, else the checked-out branch)
variable "CACHE_BRANCH" {
  default = "main"
}
# Default branch, whose cache ref every build also reads
variable "CACHE_DEFAULT_BRANCH" {
  default = "main"
}
# Import and export the registry cache (mode=max); dev turns it off
variable "REGISTRY_CACHE" {
  default = true
}
# With REGISTRY_CACHE, read the branch refs (prod: false, as it gives each target the refs it reads itself)
variable "CACHE_FROM_BRANCHES" {
  default = true
}
# With REGISTRY_CACHE, also export (off when the builder cannot export cache)
variable "CACHE_EXPORT" {
  default = true
}
# A cache export that fails (registry down or refusing) does not fail the build
variable "CACHE_IGNORE_ERROR" {
  default = true
}
# Compression of the image layers, loaded and pushed, and of the registry cache: "zstd" (measured on the
# heavy profile, docs/benchmark.md: a 3.6 GB image compressed about 3.7 times and unpacked 2 times faster
# than with gzip; Docker 23 and later read it), or "gzip" for a registry or client that cannot
variable "LAYER_COMPRESSION" {
  default = "zstd"
}
# Its level, empty for the algorithm's default (zstd: 3, gzip: 6)
variable "COMPRESSION_LEVEL" {
  default = ""
}
# Provenance and SBOM attestations (prod --push); off for loaded images, whose ids they would make
# differ from build to build
variable "ATTEST" {
  default = false
}
# SBOM attestation with ATTEST (its generator image must be reachable by the builder)
variable "SBOM" {
  default = true
}
# The SBOM generator image BuildKit runs (its SBOM generator protocol); empty: BuildKit's default, Docker Hub's
# docker/buildkit-syft-scanner. ci/provision builds the host's own and names it in /etc/mainza/host.env
variable "SBOM_GENERATOR" {
  default = ""
}
# Backend URL as the browser sees it; relative /api is proxied by the frontend's nginx
variable "VITE_API_URL" {
  default = "/api"
}
# LiveKit WebSocket URL passed to the frontend's config (may be empty)
variable "VITE_LIVEKIT_URL" {
  default = ""
}

# A branch's tag: its name with what a tag cannot hold as "-", then a hash of its exact name, so that no two
# branches share one (feature/a, feature-a); the default branch's plain where its name is a tag already
# (ci/cache/refs.py branch_tag does the same)
function "branch_tag" {
  params = [branch]
  result = branch == CACHE_DEFAULT_BRANCH && length(regexall("^[A-Za-z0-9_.-]{1,100}$", branch)) > 0 ? "branch-${branch}" : "branch-${substr(regex_replace(branch, "[^A-Za-z0-9_.-]+", "-"), 0, 80)}-${substr(sha256(branch), 0, 12)}"
}

# The ref a target's cache is written to: its branch's
function "cache_ref" {
  params = [target]
  result = "${CACHE_REGISTRY}/${PROJECT}/${target}:${branch_tag(CACHE_BRANCH)}"
}

# The compression options of an image output or a cache export: every layer in it (force: the base image's
# gzip layers too, so a cache ref holds one copy of each), OCI media types, which zstd needs
function "compression" {
  params = []
  result = "compression=${LAYER_COMPRESSION}${COMPRESSION_LEVEL != "" ? ",compression-level=${COMPRESSION_LEVEL}" : ""},force-compression=true,oci-mediatypes=true"
}

# The refs a target's cache is read from: its branch's and the default branch's
function "cache_from" {
  params = [target]
  result = REGISTRY_CACHE && CACHE_FROM_BRANCHES ? [for b in distinct([CACHE_BRANCH, CACHE_DEFAULT_BRANCH]) : "type=registry,ref=${CACHE_REGISTRY}/${PROJECT}/${target}:${branch_tag(b)}"] : []
}

function "image_tags" {
  params = [service]
  result = concat(
    ["${PROJECT}-${service}:${TAG}"],
    EXTRA_TAG != "" ? ["${PROJECT}-${service}:${EXTRA_TAG}"] : [],
    IMAGE_REGISTRY != "" ? ["${IMAGE_REGISTRY}/${PROJECT}-${service}:${TAG}"] : [],
    IMAGE_REGISTRY != "" && EXTRA_TAG != "" ? ["${IMAGE_REGISTRY}/${PROJECT}-${service}:${EXTRA_TAG}"] : [],
  )
}

# Every target builds from the repository, narrowed to its own inputs by its Dockerfile's ignore file
# (.dockerignore for Dockerfile, Dockerfile.frontend.dockerignore); a service in a folder of its own sets
# `context` to it. The sessions add the label mainza.source-digest: the fingerprint of those inputs.
target "_common" {
  context = "."
  args = merge(
    {
      GIT_COMMIT = GIT_COMMIT
      BUILD_DATE = BUILD_DATE
      CACHE_BUST = CACHE_BUST
      SOURCE_URL = SOURCE_URL
    },
    SOURCE_DATE_EPOCH != "" ? { SOURCE_DATE_EPOCH = SOURCE_DATE_EPOCH } : {},
  )
  labels = {
    "mainza.project" = PROJECT
  }
  # Loaded into the engine's image store, layers compressed as above (the sessions add no --load then)
  output = ["type=docker,${compression()}"]
  attest = ATTEST ? concat(["type=provenance,mode=max"], SBOM ? ["type=sbom${SBOM_GENERATOR != "" ? ",generator=${SBOM_GENERATOR}" : ""}"] : []) : ["type=provenance,disabled=true"]
}

target "backend" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile"
  args = {
    PYTHON_IMAGE = PYTHON_IMAGE
  }
  tags       = image_tags("backend")
  cache-from = cache_from("backend")
  cache-to   = REGISTRY_CACHE && CACHE_EXPORT ? ["type=registry,ref=${cache_ref("backend")},mode=max,ignore-error=${CACHE_IGNORE_ERROR},${compression()}"] : []
}

target "frontend" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile.frontend"
  args = {
    NODE_IMAGE       = NODE_IMAGE
    NGINX_IMAGE      = NGINX_IMAGE
    VITE_API_URL     = VITE_API_URL
    VITE_LIVEKIT_URL = VITE_LIVEKIT_URL
  }
  tags       = image_tags("frontend")
  cache-from = cache_from("frontend")
  cache-to   = REGISTRY_CACHE && CACHE_EXPORT ? ["type=registry,ref=${cache_ref("frontend")},mode=max,ignore-error=${CACHE_IGNORE_ERROR},${compression()}"] : []
}

group "default" {
  targets = ["backend", "frontend"]
}

# dev and prod build the same targets: `nox -s dev` adds --no-cache and REGISTRY_CACHE=false, fresh
# build args; `nox -s prod` sets TAG=<commit>, EXTRA_TAG=latest and the commit's reproducible build args.
group "dev" {
  targets = ["backend", "frontend"]
}

group "prod" {
  targets = ["backend", "frontend"]
}

# Checks that build nothing to keep: backend sources compile, frontend type-checks and bundles.
target "validate-backend" {
  inherits = ["backend"]
  target   = "check"
  tags     = []
  output   = ["type=cacheonly"]
  cache-to = [] # never overwrite the image's cache manifest with a check stage's
}

target "validate-frontend" {
  inherits = ["frontend"]
  target   = "build"
  tags     = []
  output   = ["type=cacheonly"]
  cache-to = []
}

group "validate" {
  targets = ["validate-backend", "validate-frontend"]
}

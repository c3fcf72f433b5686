# Build definition for the two services. Always call bake with `-f docker-bake.hcl`: with no file
# named, buildx also merges compose.yaml from this folder.
#   docker buildx bake -f docker-bake.hcl dev     # what `nox -s dev` runs (plus --no-cache)
#   docker buildx bake -f docker-bake.hcl --print # the resolved definition
# Each variable's description is the comment above it (buildx 0.13, the version this project
# supports, has no `description` attribute yet).

# Project name: image name prefix and the value of the mainza.project label that scopes cleanup
variable "PROJECT" {
  default = "mainza"
}
# Tag of the images built
variable "TAG" {
  default = "dev"
}
# Commit the images are built from (short hash; -dirty when the tree has edits)
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
# Registry holding the shared build cache
variable "CACHE_REGISTRY" {
  default = "localhost:5000"
}
# Backend URL as the browser sees it; relative /api is proxied by the frontend's nginx
variable "VITE_API_URL" {
  default = "/api"
}
# LiveKit WebSocket URL passed to the frontend's config (may be empty)
variable "VITE_LIVEKIT_URL" {
  default = ""
}

target "_common" {
  context = "."
  args = {
    GIT_COMMIT = GIT_COMMIT
    BUILD_DATE = BUILD_DATE
    CACHE_BUST = CACHE_BUST
    SOURCE_URL = SOURCE_URL
  }
  labels = {
    "mainza.project" = PROJECT
  }
}

target "backend" {
  inherits   = ["_common"]
  dockerfile = "Dockerfile"
  args = {
    PYTHON_IMAGE = PYTHON_IMAGE
  }
  tags = ["${PROJECT}-backend:${TAG}"]
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
  tags = ["${PROJECT}-frontend:${TAG}"]
}

group "default" {
  targets = ["backend", "frontend"]
}

# dev and prod build the same targets; the sessions add --no-cache (dev) or registry cache (prod).
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
}

target "validate-frontend" {
  inherits = ["frontend"]
  target   = "build"
  tags     = []
  output   = ["type=cacheonly"]
}

group "validate" {
  targets = ["validate-backend", "validate-frontend"]
}

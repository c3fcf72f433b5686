# A bake file whose images and cache exports do not declare one compression, for lint's OneCompression rule
# (tests/unit/sessions/test_lint.py): api, web and worker each break it in a way of their own; the rest keeps
# it, or declares no export the rule reads. tests/data/example/docker-bake.hcl keeps it throughout.
variable "LAYER_COMPRESSION" {
  default = "zstd"
}

# Every layer of an image output or a cache export compressed the one way
function "compression" {
  params = []
  result = "compression=${LAYER_COMPRESSION},force-compression=true,oci-mediatypes=true"
}

# Cache read, not exported: no compression to declare
function "cache_from" {
  params = [target]
  result = ["type=registry,ref=localhost:5000/p/${target}:main"]
}

target "_common" {
  context = "."
  output  = ["type=docker,${compression()}"]
}

target "api" {
  inherits   = ["_common"]
  cache-from = cache_from("api")
  cache-to   = ["type=registry,ref=localhost:5000/p/api:main,mode=max,compression=gzip"]
}

target "web" {
  inherits = ["_common"]
  output = [
    "type=image,name=localhost:5000/p/web",
  ]
  cache-to = ["type=registry,ref=localhost:5000/p/web:main,mode=max,${compression()}"]
}

target "worker" {
  inherits = ["_common"]
  # cache-to = ["type=registry,ref=localhost:5000/p/worker:main"] (commented out: no export)
  cache-to = ["type=inline"] // in the image's own layers
  output   = ["type=docker,oci-mediatypes=true,compression=zstd,force-compression=true"]
}

target "check" {
  inherits = ["api"]
  output   = ["type=cacheonly"]
  cache-to = []
}

group "default" {
  targets = ["api", "web", "worker"]
}

"""The builds: the bake file read as text, a group baked (its plan, the bake call, its figures), the build args
that shape an image, BuildKit's progress decoded (the trace), counted per target and shown, the finished
build and its report, the build record (`reports/last-build.json`) and the ledger of the images the builds
made.
"""

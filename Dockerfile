# Backend image: FastAPI on uvicorn. Built by bake (target "backend"); the context is the repository.
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim

# Only the steps that download run with a network: the others run with --network=none, so nothing they
# make can depend on the outside, and BuildKit starts them about 0.1 s sooner (no network to set up).
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Dependencies in their own stage and layer: they rebuild only when requirements-docker.txt changes.
# (deps and check are build stages, never run as containers: no HEALTHCHECK there, hence the ignores.)
# hadolint ignore=DL3057
FROM base AS deps
RUN --network=none python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements-docker.txt /tmp/requirements-docker.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r /tmp/requirements-docker.txt

# Not part of the image: `bake validate` builds it to check that the sources compile.
# hadolint ignore=DL3057
FROM deps AS check
COPY backend/ /tmp/check/backend/
RUN --network=none python -m compileall -q /tmp/check/backend

FROM base AS runtime
ARG UID=10001
RUN --network=none useradd --uid "${UID}" --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group app
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Sources are owned by root: the service can read but not rewrite its own code.
COPY backend/ ./backend/
EXPOSE 8000
# A bare socket, not urllib: the check runs every 100 ms while the service starts (compose's start_interval),
# and a run took 75 ms with urllib's imports, 25 ms without: time the starting service wants the CPU for.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-I", "-S", "-c", "import socket; s = socket.create_connection(('127.0.0.1', 8000), 2); s.sendall(b'GET /health HTTP/1.0\\r\\n\\r\\n'); raise SystemExit(s.recv(12)[9:] != b'200')"]
CMD ["uvicorn", "backend.main:app", "--host", "0.0.0.0", "--port", "8000"]

# Build info last: a new CACHE_BUST invalidates only this small layer and the labels.
ARG BUILD_DATE=unknown
ARG GIT_COMMIT=unknown
ARG CACHE_BUST=unknown
ARG SOURCE_DIGEST=unknown
ARG SOURCE_URL=""
# The sources are compiled in the same step and process: a syntax error fails the build here (a running
# stack is never replaced by a broken one) at no cost of a step or a container of its own (watch's turns).
RUN --network=none python -c 'import compileall, json, os, sys; compileall.compile_dir("backend", quiet=1) or sys.exit("backend does not compile"); json.dump({k.lower(): os.environ[k] for k in ("BUILD_DATE", "GIT_COMMIT", "CACHE_BUST", "SOURCE_DIGEST")}, open("backend/build-info.json", "w"))'
LABEL org.opencontainers.image.title="mainza-backend" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE_URL}"
USER ${UID}
